/** The agent's version, in `hello`, `iottly-agent version` and the User-Agent. Kept equal to package.json by a test. */
export const AGENT_VERSION = '0.1.0';
