#!/bin/sh
# Installs what building and testing ptychat needs on Debian or Ubuntu.
# Run as root (or through sudo).
set -eu

packages="
	build-essential pkg-config
	perl python3
	xterm rxvt-unicode stterm xfonts-base xvfb xdotool x11-utils imagemagick
	mandoc
	socat ncat netcat-openbsd telnet tmux
	valgrind clang libclang-rt-dev
	libssl-dev openssl
	libnotify-bin
	haproxy
	gnome-terminal konsole kitty alacritty xfce4-terminal foot weston
	dbus dbus-x11 libgl1-mesa-dri
"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps.sh: run as root, e.g. sudo $0" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $packages
