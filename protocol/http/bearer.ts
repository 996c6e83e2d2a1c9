/** @module The token of an `Authorization: Bearer <token>` header, for every authenticated route. */
export function bearerToken(header: string | null | undefined): string | undefined {
  return header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}
