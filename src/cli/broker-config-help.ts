/**
 * `iottly-agent broker-config --help`, apart from broker-config.ts, which only `broker-config`
 * loads: `run` imports help.ts, and must not load the broker's policy and the hub's token file
 * code with it.
 */
export const BROKER_CONFIG_HELP = `usage: iottly-agent broker-config mosquitto --out DIR [credentials]

Writes DIR/passwords (mosquitto_passwd format, PBKDF2-SHA512) and DIR/acl for a mosquitto that
carries the fleet: a device (username = device id) may publish only to its own
iottly/v1/devices/ID/up and …/presence and subscribe only to …/ID/down; a hub user may publish
and subscribe under iottly/v1/#. Both files are replaced whole (written, then renamed): give every
device and hub each time, then reload mosquitto (SIGHUP). At least one device and one hub.

  --out DIR                        where to write passwords and acl (created if missing)
  --device-token ID=TOKEN          a device and its auth.token (repeatable)
  --device-token-file FILE         the same, one ID=TOKEN per line (repeatable)
  --device-tokens FILE             the hub's --device-tokens file (the same format and bounds;
                                   its sha256: lines are refused: mosquitto needs the token)
  --hub-credential USER=PASSWORD   a hub's broker user (repeatable)
  --hub-credential-file FILE       the same, one USER=PASSWORD per line (repeatable)

Arguments are visible to every user of this machine (ps): prefer the -file flags for real
secrets. In the files, the rest of a line after the first = is the secret; blank lines and lines
starting with # are skipped. Device ids must not hold ':' (mosquitto's password file splits at
it); hub users must not hold ':', whitespace, '+', '#' or '/'. Exit 64 naming the bad entry;
73 if DIR cannot be written.`;
