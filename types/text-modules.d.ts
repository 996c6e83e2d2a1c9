/** Text files imported as modules (wrangler's default Text rule for **\/*.txt): the file's contents. */
declare module "*.txt" {
  const text: string;
  export default text;
}
