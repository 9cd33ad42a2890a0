/** Settings hub and agent use for their tunnel session, kept in one place so both ends agree. */

/**
 * Receive window per stream, also the most one stream ever buffers. 1 MiB
 * carried ~60 % of raw TLS throughput on one stream against ~47 % at the
 * spec's 256 KiB (bench tunnel-bulk, loopback); the worst case, every one of
 * 1024 streams stalled with a full window, is 1 GiB.
 */
export const tunnelStreamWindow = 1024 * 1024;

/** Pings every 10 s; a tunnel silent for 25 s is given up, so a half-open one is found within 30 s. */
export const tunnelKeepAliveIntervalMs = 10_000;
export const tunnelKeepAliveTimeoutMs = 25_000;
