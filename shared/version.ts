/**
 * The version of both programs. Each release bumps it. The agent compares it
 * with the hub's version to decide whether it should update itself, so the
 * server and the agent of one release always carry the same value.
 */
export const VERSION = "0.1.0";
