import { DEVICE_ID_PATTERN } from '../protocol/fields.js';

/**
 * Which usernames mosquitto's files can hold, as a one-line problem or null. The password file
 * splits each line at its first `:`, and skips lines that start with `#`; the ACL file ends a
 * `user` line at its end of line; `+`, `#` and `/` are MQTT's wildcards and level separator.
 */
const MAX_USERNAME_CHARS = 128;
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const HUB_USER_PATTERN = /^[^\s:+#/\u0000-\u001f\u007f]+$/;

export function deviceUserProblem(deviceId: string): string | null {
  if (!DEVICE_ID_PATTERN.test(deviceId))
    return `expected a device id matching ${DEVICE_ID_PATTERN}`;
  if (deviceId.includes(':')) {
    return "a device id with ':' cannot be a mosquitto username (its password file splits at ':')";
  }
  return null;
}

export function hubUserProblem(user: string): string | null {
  if (user.length === 0 || user.length > MAX_USERNAME_CHARS || !HUB_USER_PATTERN.test(user)) {
    return `expected a user name of 1 to ${MAX_USERNAME_CHARS} characters without ':', whitespace, '+', '#' or '/'`;
  }
  return null;
}
