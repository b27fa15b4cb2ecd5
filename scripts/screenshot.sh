#!/bin/bash
# Makes the README's pictures of real ptychatd windows on a private Xvfb.
#
# Usage: scripts/screenshot.sh [output.png]
#        scripts/screenshot.sh --chatline [output.png]
#
# Without an option it makes docs/screenshot.png: two clients (the
# project's ptychat and a plain nc), each saying something and getting a
# reply typed into its window with xdotool, and the server's log in a
# window of its own.
#
# With --chatline it makes docs/chatline.png: one operator window whose
# client (./ptychat, fed from a fifo) says a line and gets a reply sent
# with Return (shown as "you: ..."), says another, and then, while the
# operator has half a line typed, sends three more; the half-typed line
# stays whole at the bottom, with the cursor at its end.
#
# Needs: Xvfb, xterm, xdotool, nc, ImageMagick (import, convert), and a
# built ./ptychatd and ./ptychat (it runs make when they are missing).
# Every step waits on what it needs (a window's -l -lf log, what a client
# received) with a deadline; only the picture itself waits a moment for
# xterm to finish drawing what its log already shows.
#
# There is no window manager, so there are no title bars either: the
# script draws one above each window with ImageMagick, from the window's
# real title (xdotool getwindowname).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
scene=main
case ${1:-} in
--chatline) scene=chatline; shift ;;
-h | --help) sed -n '2,/^set -eu/{/^set/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
-*) echo "usage: scripts/screenshot.sh [--chatline] [output.png]" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "usage: scripts/screenshot.sh [--chatline] [output.png]" >&2; exit 2; }
if [ "$scene" = chatline ]; then
	out=${1:-$top/docs/chatline.png}
else
	out=${1:-$top/docs/screenshot.png}
fi
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$top"

# Fonts and sizes: DejaVu Sans Mono (fontconfig's "monospace") at 10
# points.  The server's -t value is split on blanks, so no word below may
# contain one.
font=(-fa monospace -fs 10)
client_cols=38
operator_cols=84
rows=10
[ "$scene" = main ] || rows=11	# the chat line scene's eleven lines
log_rows=8
margin=12
bar=22
background='#d8dee9'

die() {
	echo "screenshot.sh: $*" >&2
	exit 1
}

for tool in Xvfb xterm xdotool nc import convert; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
if [ ! -x ./ptychatd ] || [ ! -x ./ptychat ]; then
	make -s ptychatd ptychat
fi

tmp=$(mktemp -d "/tmp/ptychat-screenshot.XXXXXX")
pids=""
xvfb=""
server=""
cleanup() {
	status=$?
	trap - EXIT INT TERM
	# Our own xterms first, then the server (which closes its windows),
	# then the display.
	for pid in $pids; do
		kill "$pid" 2>/dev/null || :
	done
	if [ -n "$server" ]; then
		kill "$server" 2>/dev/null || :
		wait "$server" 2>/dev/null || :
	fi
	for pid in $pids; do
		wait "$pid" 2>/dev/null || :
	done
	if [ -n "$xvfb" ]; then
		kill "$xvfb" 2>/dev/null || :
		wait "$xvfb" 2>/dev/null || :
	fi
	if [ "$status" -ne 0 ] && [ -f "$tmp/ptychatd.log" ]; then
		echo "screenshot.sh: the server's log was:" >&2
		sed 's/^/	/' "$tmp/ptychatd.log" >&2
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# until SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds;
# fails when SECONDS have passed.
until_ok() {
	local tries=$(($1 * 20))
	shift
	while ! "$@"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.05
	done
}

has_text() {
	[ -f "$1" ] && grep -qF -- "$2" "$1"
}

wait_text() {
	until_ok 10 has_text "$1" "$2" || die "'$2' never showed in $1"
}

# find_one PATTERN: sets ids to the one window whose title matches.
find_one() {
	ids=$(xdotool search --name "$1" 2>/dev/null) &&
	    [ "$(printf '%s\n' "$ids" | wc -l)" -eq 1 ]
}

# Prints the id of the one window whose title matches; dies without one.
window_id() {
	until_ok 10 find_one "$1" || die "no single window titled like '$1'"
	echo "$ids"
}

focused_on() {
	[ "$(xdotool getwindowfocus 2>/dev/null)" = "$1" ]
}

# type_into WID TEXT: types a line into a window, as a person would.
type_into() {
	xdotool windowraise "$1" windowfocus --sync "$1"
	until_ok 2 focused_on "$1" || die "window $1 did not take the focus"
	xdotool type --delay 25 -- "$2"
	xdotool key Return
}

# place WID X Y: moves a window and prints its width and height.
place() {
	xdotool windowmove --sync "$1" "$2" "$3"
	xdotool getwindowgeometry --shell "$1" |
	    sed -n 's/^WIDTH=//p; s/^HEIGHT=//p' | tr '\n' ' '
	echo
}

# The display: -displayfd picks a free number; -r: no key auto-repeat.
Xvfb -displayfd 3 -nolisten tcp -noreset -r -screen 0 1400x900x24 \
    3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb=$!
until_ok 10 grep -qs '^[0-9][0-9]*$' "$tmp/display" ||
    die "Xvfb did not start: $(cat "$tmp/xvfb.log")"
DISPLAY=":$(cat "$tmp/display")"
export DISPLAY
# Keep the user's own X resources out of the picture.
export HOME="$tmp" XENVIRONMENT=/dev/null LC_ALL=C.UTF-8

./ptychatd -v -p 0 -b 127.0.0.1 \
    -t "xterm ${font[*]} -geometry ${operator_cols}x$rows -bw 0 -l -lf $tmp/operator-%n.log" \
    </dev/null 2>"$tmp/ptychatd.log" &
server=$!
until_ok 10 grep -qs 'listening on .* port [0-9]' "$tmp/ptychatd.log" ||
    die "ptychatd did not start"
port=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$tmp/ptychatd.log")

# client NAME TITLE COMMAND...: a client in its own xterm, started from
# what looks like a shell prompt.
client() {
	local name=$1 title=$2
	shift 2
	xterm "${font[@]}" -geometry "${client_cols}x$rows" -bw 0 -bg '#fbf7ea' \
	    -T "$title" -l -lf "$tmp/$name.log" \
	    -e sh -c 'printf "$ %s\n" "$*"; exec "$@"' sh "$@" &
	pids="$pids $!"
}

# bars WID X Y W H COLOUR: the title bar over a window, drawn later; the
# window's own pixels are kept, all else is the background.
draw=()
mask=()
bars() {
	local title
	title=$(xdotool getwindowname "$1")
	mask+=(-draw "rectangle $2,$3 $(($2 + $4 - 1)),$(($3 + $5 - 1))")
	draw+=(-fill "$6" -draw "rectangle $2,$(($3 - bar)) $(($2 + $4 - 1)),$(($3 - 1))")
	draw+=(-fill white -annotate "+$(($2 + 8))+$(($3 - 6))" "$title")
}

main_scene() {
	client alice "alice: ptychat 127.0.0.1 $port" ./ptychat 127.0.0.1 "$port"
	op1=$(window_id '^ptychat #1 ')
	wait_text "$tmp/operator-1.log" "Close this window"
	client bob "bob: nc 127.0.0.1 $port" nc 127.0.0.1 "$port"
	op2=$(window_id '^ptychat #2 ')
	wait_text "$tmp/operator-2.log" "Close this window"
	alice=$(window_id '^alice: ')
	bob=$(window_id '^bob: ')

	# Clients on the left, the operator's windows on the right, the log
	# across the bottom.
	x1=$margin
	y1=$((margin + bar))
	read -r cw ch <<<"$(place "$alice" "$x1" "$y1")"
	x2=$((x1 + cw + margin))
	read -r ow oh <<<"$(place "$op1" "$x2" "$y1")"
	y2=$((y1 + (ch > oh ? ch : oh) + margin + bar))
	place "$bob" "$x1" "$y2" >/dev/null
	place "$op2" "$x2" "$y2" >/dev/null
	y3=$((y2 + (ch > oh ? ch : oh) + margin + bar))
	# As wide as both columns: xterm adds 2 pixels of inner border a side.
	log_cols=$(((x2 + ow - x1 - 4) / ((ow - 4) / operator_cols)))
	xterm "${font[@]}" -geometry "${log_cols}x$log_rows" -bw 0 \
	    -bg '#2e3440' -fg '#d8dee9' -T "server log: ptychatd -v -p 0 -b 127.0.0.1" \
	    -l -lf "$tmp/server-log.log" -e tail -n +1 -f "$tmp/ptychatd.log" &
	pids="$pids $!"
	log=$(window_id '^server log: ')
	read -r lw lh <<<"$(place "$log" "$x1" "$y3")"

	# The conversation.
	type_into "$alice" "Hi! Is anyone there?"
	wait_text "$tmp/operator-1.log" "Is anyone there?"
	type_into "$bob" "hello from plain old nc"
	wait_text "$tmp/operator-2.log" "plain old nc"
	type_into "$op1" "Hello alice, how can I help?"
	wait_text "$tmp/alice.log" "how can I help?"
	type_into "$op2" "Hi bob! Only you can read this line."
	wait_text "$tmp/bob.log" "Only you can read"
	type_into "$alice" "Just trying out ptychat :)"
	wait_text "$tmp/operator-1.log" "trying out ptychat"
	wait_text "$tmp/server-log.log" "session 2 127.0.0.1"
	# Leave the keyboard with the operator's first window.
	xdotool windowfocus --sync "$op1"

	width=$((x1 + lw + margin))
	height=$((y3 + lh + margin))
	bars "$alice" "$x1" "$y1" "$cw" "$ch" '#6b7280'
	bars "$bob" "$x1" "$y2" "$cw" "$ch" '#6b7280'
	bars "$op1" "$x2" "$y1" "$ow" "$oh" '#3b6ea5'
	bars "$op2" "$x2" "$y2" "$ow" "$oh" '#3b6ea5'
	bars "$log" "$x1" "$y3" "$lw" "$lh" '#434c5e'
}

# The chat line: one operator window and a client fed from a fifo.
chatline_scene() {
	local fifo=$tmp/client.in half="Sure, I can look at that ri" line
	mkfifo "$fifo"
	# Its output is a file, so it is plain bytes: what the client received.
	./ptychat -q 127.0.0.1 "$port" <"$fifo" >"$tmp/client.out" 2>&1 &
	pids="$pids $!"
	exec 4>"$fifo"
	op1=$(window_id '^ptychat #1 ')
	wait_text "$tmp/operator-1.log" "Close this window"
	x1=$margin
	y1=$((margin + bar))
	read -r ow oh <<<"$(place "$op1" "$x1" "$y1")"

	# One finished exchange, and the client's next line.
	say "Hi, is this the support line for the reporting service?"
	type_into "$op1" "Yes, hello! What can I do for you?"
	wait_text "$tmp/client.out" "What can I do for you?"
	say "The CSV export on the reports page hangs. Could you check it?"

	# Half a line typed, not sent: the log ends with it, echoed.
	xdotool windowraise "$op1" windowfocus --sync "$op1"
	until_ok 2 focused_on "$op1" || die "window $op1 did not take the focus"
	xdotool type --delay 25 -- "$half"
	until_ok 10 last_line_is "$tmp/operator-1.log" "> $half" ||
	    die "the half-typed line never showed"

	# The client talks on; each line lands above the intact chat line.
	for line in "It started after this morning's update." \
	    "The PDF export still works, by the way." \
	    "No rush, I'll be here for a while."; do
		say "$line"
		until_ok 10 last_line_is "$tmp/operator-1.log" "> $half" ||
		    die "the chat line was not drawn again after '$line'"
	done
	# fd 4 stays open: end of input would end the client's side, and the
	# window would say so.

	width=$((x1 + ow + margin))
	height=$((y1 + oh + margin))
	bars "$op1" "$x1" "$y1" "$ow" "$oh" '#3b6ea5'
}

# say LINE: the chat line scene's client sends LINE; waits until the
# operator's window shows it.
say() {
	printf '%s\n' "$1" >&4
	wait_text "$tmp/operator-1.log" "$1"
}

# last_line_is FILE TEXT: the last line in a window's log, after its last
# carriage return and without its CSI sequences, is TEXT.  The chat line
# is drawn last, after a CR, with the cursor left at its end.
last_line_is() {
	[ -f "$1" ] && [ "$(tail -c 512 "$1" | tr '\r' '\n' | tail -n 1 |
	    sed 's/\x1b\[[0-9;]*[A-Za-z]//g')" = "$2" ]
}

"${scene}_scene"
# Let xterm draw what its log already shows.
sleep 0.3
import -window root "$tmp/root.png"

# Title bars, a background, and the crop to what is used.
convert -size "${width}x$height" xc:black -fill white "${mask[@]}" \
    "$tmp/mask.png"
convert "$tmp/root.png" -crop "${width}x$height+0+0" +repage "$tmp/shot.png"
mkdir -p "$(dirname "$out")"
convert -size "${width}x$height" "xc:$background" "$tmp/shot.png" \
    "$tmp/mask.png" -composite \
    -font DejaVu-Sans -pointsize 13 "${draw[@]}" \
    -depth 8 +dither -colors 256 -strip PNG8:"$out"
echo "screenshot.sh: wrote $out (${width}x$height)"
