#!/bin/sh
# LoftBox installer: puts the LoftBox agent skills where a coding agent looks for them and the
# `loftbox` CLI in a bin directory, both checked against the SHA-256 sums the server publishes.
#
#   curl -fsSL http://<server>/install.sh | sh
#   curl -fsSL http://<server>/install.sh | sh -s -- --agent codex
#   curl -fsSL http://<server>/install.sh | sh -s -- --check
#
# Plain POSIX sh (dash, busybox ash) because it is piped into whatever `sh` the machine has; it
# must never read stdin, which is the script itself when piped.

set -eu

# GET /install.sh fills in the server's public URL on the next line, so the script installs from the
# server that handed it out and points the CLI there; a copy from a checkout keeps the CLI's local
# default. `--base-url` or LOFTBOX_BASE_URL point it anywhere else.
SERVED_BY=http://127.0.0.1:8080
BASE_URL="${LOFTBOX_BASE_URL:-$SERVED_BY}"
AGENT=auto
TARGET=
BIN_DIR=
NO_BIN=0
MODE=install
VERSION_FILE=.loftbox-skill-version
TMP_DIR=

usage() {
	cat <<'EOF'
Install the LoftBox agent skills and the loftbox CLI.

Usage: install.sh [options]
  curl -fsSL <server>/install.sh | sh -s -- [options]

Options:
  --agent NAME     auto | claude | codex | hermes | opencode | cursor | generic (default: auto)
  --target DIR     install the skills into DIR instead of the agent's skills directory
  --bin-dir DIR    where the loftbox CLI goes (default: ~/.local/bin)
  --no-bin         install the skills only, not the CLI
  --check          report whether an update is available; change nothing
  --update         install only when the server has a newer version
  --base-url URL   LoftBox server to install from and to point the CLI at (default:
                   $LOFTBOX_BASE_URL, else the server this script was downloaded from)
  -h, --help       show this help

Skill directories per agent:
  claude    ~/.claude/skills
  codex     ${CODEX_HOME:-~/.codex}/skills
  hermes    ~/.hermes/skills/email
  opencode  ~/.config/opencode/skills
  cursor    ~/.cursor/skills
  generic   ~/.agent/skills
  auto      the first of claude, codex, hermes, opencode, cursor whose home directory
            exists, else generic

Exit status: 0 on success (also when --check finds an update), 1 on errors, 2 on bad usage.
EOF
}

say() { printf '%s\n' "$*"; }
warn() { printf 'loftbox install: %s\n' "$*" >&2; }
die() {
	warn "$*"
	exit 1
}
usage_error() {
	warn "$*"
	warn "run with --help for usage"
	exit 2
}

cleanup() {
	if [ -n "$TMP_DIR" ] && [ -d "$TMP_DIR" ]; then rm -rf "$TMP_DIR"; fi
}

# Options that take a value must have one: `--target` at the end of the line is a mistake, not
# an empty target.
need_value() {
	if [ "$2" -lt 2 ]; then usage_error "$1 needs a value"; fi
}

while [ $# -gt 0 ]; do
	case "$1" in
	--agent)
		need_value "$1" $#
		AGENT=$2
		shift 2
		;;
	--agent=*)
		AGENT=${1#*=}
		shift
		;;
	--target)
		need_value "$1" $#
		TARGET=$2
		shift 2
		;;
	--target=*)
		TARGET=${1#*=}
		shift
		;;
	--bin-dir)
		need_value "$1" $#
		BIN_DIR=$2
		shift 2
		;;
	--bin-dir=*)
		BIN_DIR=${1#*=}
		shift
		;;
	--base-url)
		need_value "$1" $#
		BASE_URL=$2
		shift 2
		;;
	--base-url=*)
		BASE_URL=${1#*=}
		shift
		;;
	--no-bin)
		NO_BIN=1
		shift
		;;
	--check)
		MODE=check
		shift
		;;
	--update)
		MODE=update
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown option: $1" ;;
	esac
done

case "$AGENT" in
auto | claude | codex | hermes | opencode | cursor | generic) ;;
*) usage_error "unknown agent: $AGENT (auto, claude, codex, hermes, opencode, cursor or generic)" ;;
esac
case "$BASE_URL" in
http://?* | https://?*) ;;
*) usage_error "--base-url must be an http:// or https:// URL: $BASE_URL" ;;
esac
# One trailing slash would double up when paths are appended.
BASE_URL=${BASE_URL%/}

if [ -z "${HOME:-}" ] && { [ -z "$TARGET" ] || { [ "$NO_BIN" -eq 0 ] && [ -z "$BIN_DIR" ]; }; }; then
	die "HOME is not set; pass --target and --bin-dir (or --no-bin)"
fi
CODEX_DIR=${CODEX_HOME:-${HOME:-}/.codex}

# auto: the agents whose home directory already exists, Claude Code first; a machine with none of
# them gets the generic location rather than a directory for an agent that is not there.
detect_agent() {
	if [ -d "$HOME/.claude" ]; then
		echo claude
	elif [ -d "$CODEX_DIR" ]; then
		echo codex
	elif [ -d "$HOME/.hermes" ]; then
		echo hermes
	elif [ -d "$HOME/.config/opencode" ]; then
		echo opencode
	elif [ -d "$HOME/.cursor" ]; then
		echo cursor
	else
		echo generic
	fi
}

agent_target() {
	case "$1" in
	claude) echo "$HOME/.claude/skills" ;;
	codex) echo "$CODEX_DIR/skills" ;;
	hermes) echo "$HOME/.hermes/skills/email" ;;
	opencode) echo "$HOME/.config/opencode/skills" ;;
	cursor) echo "$HOME/.cursor/skills" ;;
	*) echo "$HOME/.agent/skills" ;;
	esac
}

if [ -n "$TARGET" ]; then
	AGENT_NAME=custom
else
	AGENT_NAME=$AGENT
	if [ "$AGENT_NAME" = auto ]; then AGENT_NAME=$(detect_agent); fi
	TARGET=$(agent_target "$AGENT_NAME")
fi
if [ -z "$BIN_DIR" ]; then BIN_DIR="${HOME:-}/.local/bin"; fi
# The shim records the CLI's path, so relative directories are made absolute first.
case "$BIN_DIR" in /*) ;; *) BIN_DIR="$(pwd)/$BIN_DIR" ;; esac
case "$TARGET" in /*) ;; *) TARGET="$(pwd)/$TARGET" ;; esac

# Downloads with whichever client the machine has. Only http(s) URLs are fetched (a redirect to
# file:// or another scheme is refused), and an HTTP error fails instead of saving an error page.
fetch() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --proto '=http,https' --proto-redir '=http,https' --retry 2 \
			--connect-timeout 15 --max-time 300 -o "$2" "$1"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -T 60 -O "$2" "$1"
	else
		die "neither curl nor wget is installed"
	fi
}

# SHA-256 of a file with whatever tool exists; none at all is an error because nothing is
# installed unverified.
sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d ' ' -f 1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d ' ' -f 1
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
	else
		die "no SHA-256 tool (sha256sum, shasum or openssl) found; refusing to install unverified files"
	fi
}

# One string field of skill-version.json. The file is a flat object of simple strings, so sed is
# enough and the installer needs neither jq nor node; each value is validated by its caller.
json_field() {
	tr -d '\n\r' <"$1" | sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

# archive_url and cli_url may be absolute, root-relative ("/skills/…", resolved against the
# server's origin) or relative to skill-version.json itself.
resolve_url() {
	case "$1" in
	http://* | https://*) echo "$1" ;;
	/*)
		origin=$(printf '%s\n' "$BASE_URL" | sed 's#^\([a-z]*://[^/]*\).*#\1#')
		echo "$origin$1"
		;;
	*) echo "$BASE_URL/$1" ;;
	esac
}

# Versions are dot-separated numbers with an optional -prerelease. Exit 0 when $1 is newer than $2.
# A release is newer than its own prereleases; two prereleases of one release compare as strings.
version_newer() {
	a_core=${1%%[-+]*}
	b_core=${2%%[-+]*}
	while [ -n "$a_core" ] || [ -n "$b_core" ]; do
		a_part=${a_core%%.*}
		b_part=${b_core%%.*}
		# Digits only, so a stray letter cannot make `[ -gt ]` fail.
		a_part=$(printf '%s' "$a_part" | tr -cd '0-9')
		b_part=$(printf '%s' "$b_part" | tr -cd '0-9')
		a_part=${a_part:-0}
		b_part=${b_part:-0}
		if [ "$a_part" -gt "$b_part" ]; then return 0; fi
		if [ "$a_part" -lt "$b_part" ]; then return 1; fi
		case "$a_core" in *.*) a_core=${a_core#*.} ;; *) a_core= ;; esac
		case "$b_core" in *.*) b_core=${b_core#*.} ;; *) b_core= ;; esac
	done
	a_pre=${1#"${1%%-*}"}
	b_pre=${2#"${2%%-*}"}
	a_pre=${a_pre%%+*}
	b_pre=${b_pre%%+*}
	if [ "$a_pre" = "$b_pre" ]; then return 1; fi
	if [ -z "$a_pre" ]; then return 0; fi
	if [ -z "$b_pre" ]; then return 1; fi
	[ "$(printf '%s\n%s\n' "$a_pre" "$b_pre" | LC_ALL=C sort | tail -n 1)" = "$a_pre" ]
}

# The version recorded by the last install; a damaged file counts as "0", i.e. older than anything.
installed_version() {
	if [ -f "$TARGET/$VERSION_FILE" ]; then
		v=$(sed -n '1p' "$TARGET/$VERSION_FILE" | tr -d ' \t\r')
		case "$v" in
		[0-9]*) case "$v" in *[!0-9A-Za-z.+-]*) echo 0 ;; *) echo "$v" ;; esac ;;
		*) echo 0 ;;
		esac
	fi
}

# Quotes a string for a POSIX shell, so the shim works whatever the bin directory is called.
sh_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

TMP_DIR=$(mktemp -d 2>/dev/null || true)
if [ -z "$TMP_DIR" ]; then
	TMP_DIR="${TMPDIR:-/tmp}/loftbox-install.$$"
	mkdir -m 700 "$TMP_DIR" || die "cannot create a temporary directory"
fi
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fetch "$BASE_URL/skill-version.json" "$TMP_DIR/skill-version.json" ||
	die "cannot download $BASE_URL/skill-version.json (is --base-url right and the server running?)"

VERSION=$(json_field "$TMP_DIR/skill-version.json" version)
COMMIT=$(json_field "$TMP_DIR/skill-version.json" commit)
ARCHIVE_URL=$(json_field "$TMP_DIR/skill-version.json" archive_url)
CLI_URL=$(json_field "$TMP_DIR/skill-version.json" cli_url)
ARCHIVE_SHA=$(json_field "$TMP_DIR/skill-version.json" sha256 | tr 'A-F' 'a-f')
CLI_SHA=$(json_field "$TMP_DIR/skill-version.json" cli_sha256 | tr 'A-F' 'a-f')

# The version is written to disk and compared; anything but a plain version string is refused.
case "$VERSION" in
'' | *[!0-9A-Za-z.+-]*) die "skill-version.json from $BASE_URL has no usable version" ;;
[0-9]*) ;;
*) die "skill-version.json from $BASE_URL has no usable version: $VERSION" ;;
esac
is_sha256() {
	case "$1" in
	*[!0-9a-f]*) return 1 ;;
	esac
	[ "${#1}" -eq 64 ]
}

CURRENT=$(installed_version)

if [ "$MODE" = check ]; then
	if [ -z "$CURRENT" ]; then
		say "not installed in $TARGET: version $VERSION is available"
	elif version_newer "$VERSION" "$CURRENT"; then
		say "update available: $CURRENT -> $VERSION"
		say "Updating changes how your agent behaves: review it, then run the installer with --update."
	else
		say "up to date: $CURRENT ($TARGET)"
	fi
	exit 0
fi

if [ "$MODE" = update ] && [ -n "$CURRENT" ] && ! version_newer "$VERSION" "$CURRENT"; then
	say "up to date: $CURRENT ($TARGET); nothing to install"
	exit 0
fi

[ -n "$ARCHIVE_URL" ] || die "skill-version.json from $BASE_URL has no archive_url"
is_sha256 "$ARCHIVE_SHA" || die "skill-version.json from $BASE_URL has no valid sha256 for the skills"
if [ "$NO_BIN" -eq 0 ]; then
	[ -n "$CLI_URL" ] || die "skill-version.json from $BASE_URL has no cli_url (use --no-bin for skills only)"
	is_sha256 "$CLI_SHA" ||
		die "skill-version.json from $BASE_URL has no valid cli_sha256 (use --no-bin for skills only)"
fi

# Everything is downloaded and verified before anything is installed, so a bad download leaves
# the existing installation exactly as it was.
ARCHIVE=$TMP_DIR/skills.tar.gz
fetch "$(resolve_url "$ARCHIVE_URL")" "$ARCHIVE" || die "cannot download the skills from $(resolve_url "$ARCHIVE_URL")"
GOT=$(sha256_of "$ARCHIVE")
if [ "$GOT" != "$ARCHIVE_SHA" ]; then
	die "checksum mismatch for the skills archive (expected $ARCHIVE_SHA, got $GOT); nothing was installed"
fi
if [ "$NO_BIN" -eq 0 ]; then
	CLI_FILE=$TMP_DIR/loftbox.mjs
	fetch "$(resolve_url "$CLI_URL")" "$CLI_FILE" || die "cannot download the CLI from $(resolve_url "$CLI_URL")"
	GOT=$(sha256_of "$CLI_FILE")
	if [ "$GOT" != "$CLI_SHA" ]; then
		die "checksum mismatch for the CLI (expected $CLI_SHA, got $GOT); nothing was installed"
	fi
fi

# The checksum proves the archive is the one the server published, not that its paths are sane:
# refuse absolute paths and `..` so extraction cannot write outside the staging directory.
ENTRIES=$TMP_DIR/entries
gzip -dc "$ARCHIVE" | tar -tf - >"$ENTRIES" || die "the skills archive is not a valid .tar.gz"
if grep -E '^/|(^|/)\.\.(/|$)' "$ENTRIES" >/dev/null; then
	die "the skills archive contains unsafe paths; nothing was installed"
fi
STAGE=$TMP_DIR/stage
mkdir "$STAGE"
gzip -dc "$ARCHIVE" | (cd "$STAGE" && tar -xf -) || die "cannot extract the skills archive"

# Each skill directory of the bundle replaces the installed one of the same name; other skills in
# the target are left alone. The new copy is moved in next to the old one first, so a failure
# midway never leaves a skill half-written.
mkdir -p "$TARGET" || die "cannot create $TARGET"
SKILLS=
for dir in "$STAGE"/*/; do
	[ -f "${dir}SKILL.md" ] || continue
	name=$(basename "$dir")
	rm -rf "$TARGET/.$name.new" "$TARGET/.$name.old"
	cp -R "$dir" "$TARGET/.$name.new" || die "cannot write $TARGET/$name"
	if [ -e "$TARGET/$name" ]; then mv "$TARGET/$name" "$TARGET/.$name.old"; fi
	mv "$TARGET/.$name.new" "$TARGET/$name" || die "cannot install $TARGET/$name"
	rm -rf "$TARGET/.$name.old"
	SKILLS="$SKILLS $name"
done
[ -n "$SKILLS" ] || die "the skills archive holds no skills"
printf '%s\n' "$VERSION" >"$TARGET/$VERSION_FILE.tmp"
mv "$TARGET/$VERSION_FILE.tmp" "$TARGET/$VERSION_FILE"
say "Installed LoftBox skills $VERSION${COMMIT:+ ($COMMIT)} into $TARGET:$SKILLS"

# The CLI: the verified bundle plus a small shim, because agents call `loftbox`, and a bundle run by
# an explicit `node` works even where the .mjs file's shebang or exec bit would not.
if [ "$NO_BIN" -eq 0 ]; then
	mkdir -p "$BIN_DIR" || die "cannot create $BIN_DIR"
	SHIM=$BIN_DIR/loftbox
	# Never replace a `loftbox` this installer did not write (an npm global install, say).
	if [ -e "$SHIM" ] && ! grep -q 'loftbox-install-shim' "$SHIM" 2>/dev/null; then
		warn "$SHIM exists and was not written by this installer; leaving it and the CLI alone"
		warn "(remove it, or pass --bin-dir DIR, to install the CLI)"
	else
		cp "$CLI_FILE" "$BIN_DIR/.loftbox.mjs.new"
		chmod 755 "$BIN_DIR/.loftbox.mjs.new"
		mv "$BIN_DIR/.loftbox.mjs.new" "$BIN_DIR/loftbox.mjs"
		# The shim names the server it was installed from as the CLI's default; a --base-url,
		# LOFTBOX_BASE_URL or the server register saved in the config file still win.
		{
			echo '#!/bin/sh'
			echo '# loftbox-install-shim: written by the LoftBox installer; runs the CLI next to it.'
			echo "LOFTBOX_DEFAULT_BASE_URL=$(sh_quote "$BASE_URL")"
			echo 'export LOFTBOX_DEFAULT_BASE_URL'
			echo "exec node $(sh_quote "$BIN_DIR/loftbox.mjs") \"\$@\""
		} >"$BIN_DIR/.loftbox.new"
		chmod 755 "$BIN_DIR/.loftbox.new"
		mv "$BIN_DIR/.loftbox.new" "$SHIM"
		say "Installed the loftbox CLI $VERSION: $SHIM"
		if ! command -v node >/dev/null 2>&1; then
			warn "node is not on PATH; the loftbox CLI needs Node.js 20.19 or newer"
		fi
		case ":${PATH:-}:" in
		*":$BIN_DIR:"*) ;;
		*) warn "$BIN_DIR is not on your PATH; add it, e.g. export PATH=\"$BIN_DIR:\$PATH\"" ;;
		esac
	fi
fi

# What to paste into the agent. The server address is part of it because register saves whatever
# server it was pointed at, so later commands need no flags.
cat <<EOF

Paste this into your agent (${AGENT_NAME}):

  Use register-loftbox-mail-agent to register this agent for LoftBox mail
  (server: $BASE_URL). Ask me only for my owner email. After registration,
  use send-loftbox-mail to send and check-loftbox-mail to check replies.

To connect your own domain later: "Use onboard-business-domain to connect my business
domain for verified sending. Ask me only for my owner email and the domain to send from."
Check for skill updates with --check; install them with --update only after reviewing them.
EOF
