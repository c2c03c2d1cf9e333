#!/bin/sh
# Installs iottly-agent as a systemd service from a directory holding the release files
# (iottly-agent-linux-<arch>[.xz], SHA256SUMS, iottly-agent.service, iottly-agent-update-guard,
# this script).
# Safe to run again: it upgrades the binary and unit and leaves what is already right alone.
# It checks everything first (staging the binary, unit and config in a temporary directory) and
# only then changes anything, so a failed check leaves the system as it was.
#
#   sudo ./install.sh --url wss://hub.example.com/v1/device --device-id pi-001 --token-file ./token
#   sudo ./install.sh                      # upgrade: keep the existing configuration
#   sudo ./install.sh --uninstall [--purge]
#
# --root DIR installs into DIR instead of / (CI tests it that way; nothing is started then).
set -eu

# The binary lives in a folder of its own that the agent's user owns, so that the agent can
# update itself there (README "Updating the agent"); the command is a symlink to it.
LIB_DIR=/usr/local/lib/iottly-agent
BIN_PATH=$LIB_DIR/iottly-agent
LINK_PATH=/usr/local/bin/iottly-agent
LINK_TARGET=../lib/iottly-agent/iottly-agent
# Root's, outside the agent's folder: run before every start, it restores a failed update.
GUARD_NAME=iottly-agent-update-guard
GUARD_PATH=/usr/local/lib/$GUARD_NAME
UNIT_NAME=iottly-agent.service
UNIT_PATH=/etc/systemd/system/$UNIT_NAME
CONFIG_DIR=/etc/iottly-agent
CONFIG_PATH=$CONFIG_DIR/config.json
STATE_DIR=/var/lib/iottly-agent
SERVICE_USER=iottly
EX_USAGE=64
EX_CONFIG=78

usage() {
  cat <<'EOF'
usage: install.sh [options]
  --url URL            hub device endpoint, ws:// or wss://…/v1/device
  --device-id ID       this device's id (letters, digits, . _ : -)
  --token TOKEN        device token (visible in ps and shell history: prefer --token-file)
  --token-file PATH    file holding the device token
  --from DIR           where the release files are (default: this script's directory, then ../dist)
  --no-start           install and enable, but do not start the service
  --root DIR           install into DIR instead of / (for tests and image builds; starts nothing)
  --machine NAME       use NAME instead of `uname -m` to pick the binary
  --uninstall          stop and remove the service and binary; keep config, spool and user
  --purge              with --uninstall: remove config, spool and the iottly user as well
  -h, --help           this text
The first install needs --url, --device-id and --token or --token-file; later runs without
them keep /etc/iottly-agent/config.json as it is.
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$1" >&2
  exit "${2:-1}"
}

ROOT=""
FROM=""
URL=""
DEVICE_ID=""
TOKEN=""
TOKEN_FILE=""
MACHINE=""
NO_START=0
UNINSTALL=0
PURGE=0

need_value() {
  [ "$#" -ge 2 ] || die "$1 needs a value" "$EX_USAGE"
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --url) need_value "$@"; URL=$2; shift 2 ;;
    --device-id) need_value "$@"; DEVICE_ID=$2; shift 2 ;;
    --token) need_value "$@"; TOKEN=$2; shift 2 ;;
    --token-file) need_value "$@"; TOKEN_FILE=$2; shift 2 ;;
    --from) need_value "$@"; FROM=$2; shift 2 ;;
    --root) need_value "$@"; ROOT=${2%/}; shift 2 ;;
    --machine) need_value "$@"; MACHINE=$2; shift 2 ;;
    --no-start) NO_START=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" "$EX_USAGE" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "run as root (sudo): it installs a system service and user"
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT is not a directory" "$EX_USAGE"
fi
[ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || die "--purge goes with --uninstall" "$EX_USAGE"

# systemd is managed live only on the real root with systemd running as init.
systemd_live() {
  [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# `systemctl enable/disable` without a running systemd, or in --root: it only edits symlinks.
systemctl_offline() {
  if ! command -v systemctl >/dev/null 2>&1; then
    say "systemctl not found: skipped 'systemctl $*'"
    return 0
  fi
  systemctl --root="${ROOT:-/}" "$@"
}

# ---- picking the binary -------------------------------------------------------------------

target_for_machine() {
  case "$1" in
    x86_64 | amd64) echo linux-x64 ;;
    aarch64 | arm64)
      # A 64-bit kernel under a 32-bit userland (Raspberry Pi OS 32-bit on a Pi 4 or 5).
      if [ -z "$MACHINE" ] && [ "$(getconf LONG_BIT 2>/dev/null || echo 64)" = 32 ]; then
        echo linux-armv7l
      else
        echo linux-arm64
      fi
      ;;
    armv7l | armv8l | armhf) echo linux-armv7l ;;
    armv6l) die "ARMv6 (Raspberry Pi 1 and Zero) is not supported: Node.js has no build for it" ;;
    *) die "no iottly-agent binary for machine '$1' (x86_64, aarch64 and armv7l are built)" ;;
  esac
}

script_dir() {
  CDPATH='' cd -- "$(dirname -- "$0")" && pwd
}

# Prints the directory holding the named release file, searching --from, then next to this
# script, then the repository layout (dist/ and systemd/ beside scripts/).
find_file() {
  name=$1
  shift
  for dir in "$@"; do
    if [ -n "$dir" ] && [ -f "$dir/$name" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

# Checks a release file against SHA256SUMS beside it, when that lists it.
verify_checksum() {
  dir=$1
  name=$2
  [ -f "$dir/SHA256SUMS" ] || return 0
  line=$(grep "  $name\$" "$dir/SHA256SUMS" || true)
  [ -n "$line" ] || return 0
  (cd "$dir" && printf '%s\n' "$line" | sha256sum -c --quiet -) >/dev/null 2>&1 ||
    die "$dir/$name does not match its SHA256SUMS line: the download is damaged"
  say "checked $name against SHA256SUMS"
}

CHANGED=0

# Moves $1 over $2 unless they are equal; sets CHANGED when it does.
replace_if_changed() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    rm -f "$1"
  else
    mv -f "$1" "$2"
    CHANGED=1
    say "installed $2"
  fi
}

# Copies $1 into place as $2 with mode $3 (through a temporary file beside it, so a reader never
# sees half a file).
put_file() {
  tmp=$(mktemp "$(dirname -- "$2")/.$(basename -- "$2").XXXXXX")
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  replace_if_changed "$tmp" "$2"
}

# Finds, verifies and unpacks the binary for this machine into $STAGE, outside the target.
stage_binary() {
  here=$(script_dir)
  target=$(target_for_machine "${MACHINE:-$(uname -m)}")
  name=iottly-agent-$target
  if dir=$(find_file "$name" "$FROM" "$here" "$here/../dist"); then
    verify_checksum "$dir" "$name"
    cp "$dir/$name" "$STAGE/iottly-agent"
  elif dir=$(find_file "$name.xz" "$FROM" "$here" "$here/../dist"); then
    verify_checksum "$dir" "$name.xz"
    xz -dc "$dir/$name.xz" >"$STAGE/iottly-agent" || die "$dir/$name.xz does not unpack"
  else
    die "cannot find $name or $name.xz (looked in ${FROM:-} $here $here/../dist; use --from DIR)"
  fi
  chmod 0755 "$STAGE/iottly-agent"
  if [ -z "$ROOT" ] && ! "$STAGE/iottly-agent" version >/dev/null 2>&1; then
    die "$name does not run on this machine ($(uname -m)); is it the right architecture?"
  fi
}

stage_unit() {
  here=$(script_dir)
  dir=$(find_file "$UNIT_NAME" "$FROM" "$here" "$here/../systemd") ||
    die "cannot find $UNIT_NAME (looked in ${FROM:-} $here $here/../systemd; use --from DIR)"
  # The unit names the .deb's /usr/bin and /usr/lib; a script install lives in /usr/local/lib.
  sed -e "s#^ExecStart=/usr/bin/iottly-agent #ExecStart=$BIN_PATH #" \
    -e "s#^ExecStartPre=-/bin/sh /usr/lib/iottly-agent/$GUARD_NAME /usr/bin/iottly-agent\$#ExecStartPre=-/bin/sh $GUARD_PATH $BIN_PATH#" \
    "$dir/$UNIT_NAME" >"$STAGE/$UNIT_NAME"
  gdir=$(find_file "$GUARD_NAME" "$FROM" "$here" "$here/../systemd") ||
    die "cannot find $GUARD_NAME (looked in ${FROM:-} $here $here/../systemd; use --from DIR)"
  cp "$gdir/$GUARD_NAME" "$STAGE/$GUARD_NAME"
}

service_uid() {
  awk -F: -v name="$SERVICE_USER" '$1 == name { print $3 }' "$ROOT/etc/passwd"
}

# The agent's folder and binary are its user's (it replaces the binary there when it updates);
# the command in /usr/local/bin is a relative symlink to it (relative: right under --root too).
install_binary() {
  mkdir -p "$ROOT$LIB_DIR"
  chown "$(service_uid):$(service_gid)" "$ROOT$LIB_DIR"
  chmod 0755 "$ROOT$LIB_DIR"
  put_file "$STAGE/iottly-agent" "$ROOT$BIN_PATH" 0755
  chown "$(service_uid):$(service_gid)" "$ROOT$BIN_PATH"
  if [ "$(readlink "$ROOT$LINK_PATH" 2>/dev/null || true)" != "$LINK_TARGET" ]; then
    ln -sfn "$LINK_TARGET" "$ROOT$LINK_PATH.tmp"
    mv -f "$ROOT$LINK_PATH.tmp" "$ROOT$LINK_PATH"
    CHANGED=1
    say "linked $LINK_PATH to $BIN_PATH"
  fi
}

# ---- the service user -----------------------------------------------------------------------

prefix_option() {
  if [ -n "$ROOT" ]; then printf '%s\n' "--prefix=$ROOT"; fi
}

has_entry() {
  grep -q "^$2:" "$ROOT/etc/$1" 2>/dev/null
}

service_gid() {
  awk -F: -v name="$SERVICE_USER" '$1 == name { print $3 }' "$ROOT/etc/group"
}

# groupadd and useradd must be there, and with --root they edit DIR/etc/passwd and group.
check_accounts() {
  if [ -n "$ROOT" ] && { [ ! -f "$ROOT/etc/passwd" ] || [ ! -f "$ROOT/etc/group" ]; }; then
    die "--root $ROOT has no etc/passwd and etc/group: groupadd and useradd --prefix need a root with its account files"
  fi
  has_entry passwd "$SERVICE_USER" && has_entry group "$SERVICE_USER" && return 0
  for tool in groupadd useradd; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: it is needed to create the $SERVICE_USER user"
  done
}

ensure_user() {
  if ! has_entry group "$SERVICE_USER"; then
    # shellcheck disable=SC2046 # the prefix option is one word or none
    groupadd $(prefix_option) --system "$SERVICE_USER"
    say "created group $SERVICE_USER"
  fi
  if ! has_entry passwd "$SERVICE_USER"; then
    # shellcheck disable=SC2046
    useradd $(prefix_option) --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" \
      --no-create-home --shell /usr/sbin/nologin --comment "Iottly edge agent" "$SERVICE_USER"
    say "created user $SERVICE_USER"
  fi
}

# ---- configuration ---------------------------------------------------------------------------

json_safe() {
  # The values go into JSON between quotes: refuse what would need escaping.
  case "$2" in
    *'"'* | *\\*) die "$1 must not contain quotes or backslashes" "$EX_CONFIG" ;;
  esac
  printf '%s' "$2" | LC_ALL=C grep -Eq '^[!-~]+$' ||
    die "$1 must be printable ASCII without spaces" "$EX_CONFIG"
}

# Checks the configuration options and renders config.json into $STAGE; with none given, a
# config must be there already (an upgrade keeps it).
stage_config() {
  if [ -z "$URL$DEVICE_ID$TOKEN$TOKEN_FILE" ]; then
    [ -f "$ROOT$CONFIG_PATH" ] ||
      die "no $CONFIG_PATH yet: the first install needs --url, --device-id and --token-file (or --token)" "$EX_USAGE"
    return 0
  fi
  [ -n "$URL" ] || die "--url is required with the other configuration options" "$EX_USAGE"
  [ -n "$DEVICE_ID" ] || die "--device-id is required with the other configuration options" "$EX_USAGE"
  if [ -n "$TOKEN_FILE" ]; then
    [ -z "$TOKEN" ] || die "give --token or --token-file, not both" "$EX_USAGE"
    [ -r "$TOKEN_FILE" ] || die "cannot read --token-file $TOKEN_FILE"
    TOKEN=$(head -n 1 "$TOKEN_FILE" | tr -d '\r' | sed 's/[[:space:]]*$//')
  fi
  [ -n "$TOKEN" ] || die "--token or --token-file is required (and must not be empty)" "$EX_USAGE"
  case "$URL" in
    ws://* | wss://*) ;;
    *) die "--url must start with ws:// or wss:// (got '$URL')" "$EX_CONFIG" ;;
  esac
  json_safe --url "$URL"
  json_safe --token "$TOKEN"
  printf '%s' "$DEVICE_ID" | LC_ALL=C grep -Eq '^[A-Za-z0-9._:-]{1,128}$' ||
    die "--device-id must be 1-128 of letters, digits, . _ : - (got '$DEVICE_ID')" "$EX_CONFIG"
  cat >"$STAGE/config.json" <<EOF
{
  "server": { "url": "$URL" },
  "device": { "id": "$DEVICE_ID" },
  "auth": { "token": "$TOKEN" }
}
EOF
}

write_config() {
  if [ ! -f "$STAGE/config.json" ]; then
    say "kept $CONFIG_PATH"
    return 0
  fi
  gid=$(service_gid)
  mkdir -p "$ROOT$CONFIG_DIR"
  chown "0:$gid" "$ROOT$CONFIG_DIR"
  chmod 0750 "$ROOT$CONFIG_DIR"
  tmp=$(umask 077 && mktemp "$ROOT$CONFIG_DIR/.config.json.XXXXXX")
  cat "$STAGE/config.json" >"$tmp"
  chown "0:$gid" "$tmp"
  chmod 0640 "$tmp"
  replace_if_changed "$tmp" "$ROOT$CONFIG_PATH"
}

# ---- install and uninstall -------------------------------------------------------------------

install_all() {
  # Every check first, staging what will be installed outside the target: a failed check
  # leaves the system (or --root) exactly as it was.
  STAGE=$(mktemp -d)
  trap 'rm -rf "$STAGE"' EXIT
  stage_binary
  stage_unit
  stage_config
  check_accounts

  mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc/systemd/system"
  ensure_user
  install_binary
  put_file "$STAGE/$GUARD_NAME" "$ROOT$GUARD_PATH" 0755
  put_file "$STAGE/$UNIT_NAME" "$ROOT$UNIT_PATH" 0644
  write_config
  if systemd_live; then
    systemctl daemon-reload
    systemctl enable "$UNIT_NAME" >/dev/null 2>&1
    say "enabled $UNIT_NAME"
    if [ "$NO_START" = 1 ]; then
      say "not started (--no-start): systemctl start iottly-agent"
    elif [ "$CHANGED" = 1 ]; then
      systemctl restart "$UNIT_NAME" ||
        die "$UNIT_NAME did not start: journalctl -u iottly-agent -n 50"
      say "restarted $UNIT_NAME"
    else
      systemctl start "$UNIT_NAME" || die "$UNIT_NAME did not start: journalctl -u iottly-agent -n 50"
      say "$UNIT_NAME is $(systemctl is-active "$UNIT_NAME" || true)"
    fi
  else
    systemctl_offline enable "$UNIT_NAME" >/dev/null 2>&1 || say "could not enable $UNIT_NAME"
    say "enabled $UNIT_NAME; systemd is not running here, so nothing was started"
  fi
}

uninstall_all() {
  if systemd_live; then
    systemctl disable --now "$UNIT_NAME" >/dev/null 2>&1 || true
  elif [ -f "$ROOT$UNIT_PATH" ]; then
    systemctl_offline disable "$UNIT_NAME" >/dev/null 2>&1 || true
  fi
  rm -f "$ROOT/etc/systemd/system/multi-user.target.wants/$UNIT_NAME" "$ROOT$UNIT_PATH" \
    "$ROOT$LINK_PATH" "$ROOT$GUARD_PATH"
  # The binary's folder: the binary, the previous one an update kept, its state and part files.
  rm -rf "$ROOT$LIB_DIR"
  if systemd_live; then systemctl daemon-reload; fi
  say "removed $UNIT_NAME, $LINK_PATH and $LIB_DIR"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ROOT$CONFIG_DIR" "$ROOT$STATE_DIR"
    if has_entry passwd "$SERVICE_USER"; then
      # shellcheck disable=SC2046
      userdel $(prefix_option) "$SERVICE_USER"
    fi
    if has_entry group "$SERVICE_USER"; then
      # shellcheck disable=SC2046
      groupdel $(prefix_option) "$SERVICE_USER"
    fi
    say "purged $CONFIG_DIR, $STATE_DIR and the $SERVICE_USER user"
  else
    say "kept $CONFIG_DIR, $STATE_DIR and the $SERVICE_USER user (--purge removes them)"
  fi
}

if [ "$UNINSTALL" = 1 ]; then
  uninstall_all
else
  install_all
fi
