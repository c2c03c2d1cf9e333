import { HUB_GRANTS, deviceGrants, type TopicGrant } from './access-policy.js';

/**
 * mosquitto's ACL file for the access policy. Device rules are `pattern` lines, which apply to
 * every client with `%u` replaced by its username (= its device id); mosquitto refuses a pattern
 * to a client whose username or client id holds `+`, `#` or `/`, which no device id does. Each
 * hub user gets a `user` block. A client matching no rule may do nothing.
 */
export function mosquittoAclFile(hubUsers: readonly string[]): string {
  const lines = [
    '# Written by `iottly-agent broker-config mosquitto`: regenerate it rather than edit it.',
    '# Devices (username = device id): publish their own up and presence, read their own down.',
    ...deviceGrants('%u').map((grant) => `pattern ${rule(grant)}`),
    '',
    '# Hubs: everything under the prefix.',
    ...hubUsers.flatMap((user) => [
      `user ${user}`,
      ...HUB_GRANTS.map((grant) => `topic ${rule(grant)}`),
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

function rule({ access, topic }: TopicGrant): string {
  return `${access} ${topic}`;
}
