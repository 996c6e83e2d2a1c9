// @ts-check
/**
 * @module The dashboard page: a login form for the admin token, then a poll of
 * `GET /admin/metrics/summary` every second into the charts.
 *
 * The token lives in this module's memory only: never in the URL (the form is never submitted,
 * and the page's CSP forbids form submission altogether), never in localStorage or
 * sessionStorage, never in a cookie; it goes out only as `Authorization: Bearer` on this page's
 * own same-origin fetches. A reload or "Sign out" forgets it. A token the server refuses (401,
 * 403), at login or later, brings the form back with the server's reason.
 */
import { createCharts } from "./charts.js";
import { History } from "./series.js";

const SUMMARY_PATH = "/admin/metrics/summary";
const POLL_EVERY_MS = 1_000;
/** A poll that takes longer is abandoned and counted as a miss: the next one starts on time. */
const POLL_TIMEOUT_MS = 5_000;

/** @param {string} id */
const element = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const form = /** @type {HTMLFormElement} */ (element("login"));
const tokenInput = /** @type {HTMLInputElement} */ (element("token"));
const loginError = element("login-error");
const chartsSection = element("charts");
const statusLine = element("status");
const signOutButton = element("sign-out");

/** @type {string | undefined} */
let token;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
/** @type {ReturnType<typeof createCharts> | undefined} */
let charts;
let history = new History();

/** @param {string} bearer @returns {Promise<{ ok: true, summary: import("./series.js").Summary } | { ok: false, refused: boolean, message: string }>} */
async function fetchSummary(bearer) {
  const response = await fetch(SUMMARY_PATH, {
    headers: { authorization: `Bearer ${bearer}` },
    cache: "no-store",
    credentials: "omit",
    signal: AbortSignal.timeout(POLL_TIMEOUT_MS),
  });
  if (response.ok) return { ok: true, summary: await response.json() };
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (typeof body.error === "string") message = body.error;
  } catch {
    // not JSON: the status says it
  }
  return { ok: false, refused: response.status === 401 || response.status === 403, message };
}

/** @param {string} message */
function showLogin(message) {
  stop();
  token = undefined;
  chartsSection.hidden = true;
  signOutButton.hidden = true;
  form.hidden = false;
  loginError.textContent = message;
  loginError.hidden = message === "";
  statusLine.textContent = "";
  tokenInput.focus();
}

function stop() {
  clearTimeout(timer);
  timer = undefined;
  charts?.destroy();
  charts = undefined;
  history = new History();
}

/** @param {string} accepted @param {import("./series.js").Summary} first */
function start(accepted, first) {
  token = accepted;
  form.hidden = true;
  loginError.hidden = true;
  chartsSection.hidden = false;
  signOutButton.hidden = false;
  charts = createCharts(chartsSection);
  history.add(first);
  charts.update(history.points);
  statusLine.textContent = "waiting for the second poll";
  timer = setTimeout(poll, POLL_EVERY_MS);
}

async function poll() {
  const bearer = token;
  if (bearer === undefined) return;
  try {
    const result = await fetchSummary(bearer);
    if (token !== bearer) return; // signed out meanwhile
    if (!result.ok && result.refused) return showLogin(`The server no longer accepts this token: ${result.message}`);
    if (!result.ok) statusLine.textContent = `the last poll failed: ${result.message}; retrying`;
    else {
      history.add(result.summary);
      charts?.update(history.points);
      statusLine.textContent = `live · updated ${new Date(result.summary.at).toLocaleTimeString()}`;
    }
  } catch (error) {
    if (token !== bearer) return;
    statusLine.textContent = `cannot reach the server (${error instanceof Error ? error.message : String(error)}); retrying`;
  }
  timer = setTimeout(poll, POLL_EVERY_MS);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const candidate = tokenInput.value.trim();
  tokenInput.value = "";
  if (candidate === "") return showLogin("Enter the admin token.");
  loginError.hidden = true;
  statusLine.textContent = "checking the token";
  try {
    const result = await fetchSummary(candidate);
    if (result.ok) start(candidate, result.summary);
    else showLogin(result.refused ? `The server refused this token: ${result.message}` : `The server could not answer: ${result.message}`);
  } catch (error) {
    showLogin(`Cannot reach the server: ${error instanceof Error ? error.message : String(error)}`);
  }
});

signOutButton.addEventListener("click", () => showLogin(""));
showLogin("");
