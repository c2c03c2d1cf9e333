/**
 * Input bytes an update session may have in flight beyond the device's `input_consumed`: the
 * sessions' window (SESSION_WINDOW_BYTES, 1 MiB, sessions-contract.md).
 */
export const UPDATE_WINDOW_BYTES = 1024 * 1024;
