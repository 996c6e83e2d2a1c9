/**
 * @module Which region serves a request: from the continent Cloudflare reports in
 * `request.cf`, mapped to a Durable Object location hint. The hint only matters when an object
 * is first created, so each region's objects have their own names.
 */
type Region = DurableObjectLocationHint;

const BY_CONTINENT: Record<string, Region> = {
  AF: "afr",
  AS: "apac",
  EU: "weur",
  NA: "enam",
  OC: "oc",
  SA: "sam",
  AN: "oc",
};

export function regionOf(cf: IncomingRequestCfProperties | undefined): Region {
  const continent = typeof cf?.continent === "string" ? cf.continent : undefined;
  if (continent === "NA" && typeof cf?.longitude === "string" && Number(cf.longitude) < -100) return "wnam";
  if (continent === "EU" && typeof cf?.longitude === "string" && Number(cf.longitude) > 20) return "eeur";
  if (continent === "AS" && cf?.country && ["AE", "SA", "QA", "IL", "JO", "KW", "BH", "OM"].includes(String(cf.country))) return "me";
  return (continent && BY_CONTINENT[continent]) || "enam";
}
