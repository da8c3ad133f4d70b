#!/usr/bin/env bash
# Regenerates the README's screenshots from the real application, in a virtual X server (Xvfb),
# so they can be refreshed whenever the GUI changes. Nothing is drawn by hand:
#   main.png     the main window: a stored greedy run in the Train view (every stage's curves),
#                after *Run probes* measured each layer's linear separability
#   design.png   the Design view with the cifar10-k2 preset, its psi stage selected
#   train.png    the Train view while a greedy run trains (stage 2 of 3)
#   runs.png     the Runs view, the newest run selected
#   compare.png  the Runs view comparing two runs (curves, accuracy by depth, config diff): by
#                default the greedy run and its end-to-end twin
#   compare-pictures.png  the same two runs in the Pictures tab: their stage pictures side by
#                side and the difference of their confusions
#   pictures.png the Pictures tab of the greedy fmnist-k1 run alone (its last stage's confusion)
#
# Usage: docs/screenshots/make-screenshots.sh [BUILD_DIR]      (default: build)
#
# By default it trains small real runs into a scratch run store (Fashion-MNIST subsets; about ten
# minutes of two CPU cores in all): "fmnist-k1 greedy" with probes and its end-to-end twin with
# layerwise-cli (the Runs view watches the twin train), and a greedy run in the GUI for the Train
# view. Environment:
#   LAYERWISE_SCREENSHOT_DB=FILE      take the Runs, Compare and main shots from this run store
#                                     instead: a copy of FILE (with its -wal file and runs folder)
#                                     is made first, FILE itself is never opened; the Train view
#                                     still trains a small run
#   LAYERWISE_SCREENSHOT_FILTER=TEXT  compare the runs matching TEXT (the Runs view's filter:
#                                     name, notes, spec, dataset, tag); default: the two newest
#   LAYERWISE_SCREENSHOT_MAIN=TEXT    the main window shows the newest run matching TEXT
#                                     (default: "fmnist-k1 greedy")
#   LAYERWISE_SCREENSHOT_TRAIN=N      training images of the small runs (default 10000; 0: all)
#   LAYERWISE_SCREENSHOT_EPOCHS=E     epochs per stage of the small runs (default 3)
#   LAYERWISE_SCREENSHOT_OUT=DIR      where the PNGs go (default: docs/screenshots)
#   LAYERWISE_SCREENSHOT_SIZE=WxH     screen and window size (default 1920x1080; the README's
#                                     smaller set is 1280x720 with
#                                     LAYERWISE_SCREENSHOT_OUT=docs/screenshots/1280x720)
#   LAYERWISE_SCREENSHOT_KEEP=1       keep the scratch folder (its path is printed)
# Needs xvfb, imagemagick and xdotool (packaging/install-deps.sh installs them) and python3.
# It waits for the run store's state (runs, epochs, probes), not for fixed times, except for
# repaints. Two clicks use positions in the window (the Runs view's filter field and its
# "Run probes" button, see below); look at every picture before committing it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${1:-$repo/build}")
cli=$build/app/cli/layerwise-cli
gui=$build/app/gui/layerwise
out=$(realpath -m "${LAYERWISE_SCREENSHOT_OUT:-$repo/docs/screenshots}")
size=${LAYERWISE_SCREENSHOT_SIZE:-1920x1080}
width=${size%x*}
height=${size#*x}
train_limit=${LAYERWISE_SCREENSHOT_TRAIN:-10000}
epochs=${LAYERWISE_SCREENSHOT_EPOCHS:-3}
filter=${LAYERWISE_SCREENSHOT_FILTER:-}
main_run=${LAYERWISE_SCREENSHOT_MAIN:-fmnist-k1 greedy}
source_db=${LAYERWISE_SCREENSHOT_DB:-}

# Positions in the window (default font, Runs view): the filter field and "Run probes".
filter_xy=(400 97)
probe_button_xy=(390 66)

say() { printf 'make-screenshots: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 2
}

[[ -x $cli ]] || die "$cli not found: build Layerwise first (make build), or pass the build folder"
[[ -x $gui ]] || die "$gui not found: the screenshots need the GUI (configure with LAYERWISE_GUI=ON)"
[[ $width =~ ^[0-9]+$ && $height =~ ^[0-9]+$ ]] || die "LAYERWISE_SCREENSHOT_SIZE must be WxH"
[[ $train_limit =~ ^[0-9]+$ && $epochs =~ ^[1-9][0-9]*$ ]] \
    || die "LAYERWISE_SCREENSHOT_TRAIN and LAYERWISE_SCREENSHOT_EPOCHS must be numbers"
missing=()
for tool in Xvfb:xvfb import:imagemagick xdotool:xdotool python3:python3; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
((${#missing[@]} == 0)) || die "missing ${missing[*]}: run packaging/install-deps.sh"
if [[ -n $source_db && ! -f $source_db ]]; then
    die "LAYERWISE_SCREENSHOT_DB: $source_db is not a file"
fi
mkdir -p "$out"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/layerwise-screenshots.XXXXXX")
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ ${LAYERWISE_SCREENSHOT_KEEP:-0} == 1 ]]; then
        say "scratch folder kept: $scratch"
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh profile: default window layout, no recent folders, nothing from the user's settings.
export XDG_CONFIG_HOME=$scratch/config XDG_DATA_HOME=$scratch/data XDG_CACHE_HOME=$scratch/cache
export XDG_RUNTIME_DIR=$scratch/runtime
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset LAYERWISE_DB
export QT_QPA_PLATFORM=xcb

# --- the run store ------------------------------------------------------------------------------

# run_field ID EXPR: a Python expression over the run's JSON `r` (layerwise-cli runs show).
run_field() {
    "$cli" runs show "$1" --db "$db" --json 2>/dev/null \
        | python3 -c 'import json, sys; r = json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}

# newest_run [TEXT]: id of the most recently started run (whose name, spec, ... contain TEXT).
newest_run() {
    local args=(runs list --db "$db" --json --limit 1)
    [[ -n ${1:-} ]] && args+=(--search "$1")
    "$cli" "${args[@]}" 2>/dev/null \
        | python3 -c 'import json, sys; a = json.load(sys.stdin); print(a[0]["id"] if a else "")'
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every second until it succeeds.
wait_until() {
    local limit=$1 what=$2
    shift 2
    local t
    for ((t = 0; t < limit; ++t)); do
        if "$@"; then
            return 0
        fi
        sleep 1
    done
    die "gave up after ${limit}s waiting for $what"
}

db=$scratch/store/runs.sqlite
mkdir -p "$scratch/store"
# The small runs: the fmnist-k1 preset on a seeded, class-balanced subset with fewer epochs per
# stage (the learning rate divided by 5 for the last one); the end-to-end twin gets 3x the epochs.
python3 - "$repo/resources/presets/fmnist-k1.json" "$scratch/fmnist-k1.json" "$train_limit" \
    "$epochs" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
limit, epochs = int(sys.argv[3]), int(sys.argv[4])
r = spec["recipe"]
r["dataset"]["train_limit"] = limit
r["dataset"]["test_limit"] = 0 if limit == 0 else max(2000, limit // 5)
r["epochs_per_stage"] = epochs
r["lr"]["milestones"] = [epochs - 1] if epochs > 1 else []
r["e2e"]["epochs"] = 3 * epochs
r["e2e"]["lr"]["milestones"] = [3 * epochs - 2] if epochs > 1 else []
json.dump(spec, open(sys.argv[2], "w"), indent=2)
EOF

twin_pid=
if [[ -n $source_db ]]; then
    say "copying $source_db and its runs/ folder"
    cp "$source_db" "$db"
    [[ -f $source_db-wal ]] && cp "$source_db-wal" "$db-wal"
    # A store's runs live in a folder named after it (docs/store-schema.md): runs.sqlite's in
    # runs/, a.sqlite's in a.runs/ (stores of older versions: runs/).
    source_name=$(basename "$source_db")
    source_name=${source_name%.sqlite}
    source_runs=$(dirname "$source_db")/$source_name.runs
    [[ $source_name == runs || ! -d $source_runs ]] && source_runs=$(dirname "$source_db")/runs
    if [[ -d $source_runs ]]; then
        cp -a "$source_runs" "$scratch/store/runs"
    fi
else
    say "training \"fmnist-k1 greedy\" with probes (layerwise-cli, ${train_limit} images)"
    "$cli" train --spec "$scratch/fmnist-k1.json" --db "$db" --name "fmnist-k1 greedy" \
        --probes >"$scratch/greedy.log" 2>&1 \
        || die "the greedy run failed: $(tail -n5 "$scratch/greedy.log")"
    greedy=$(newest_run)
    say "training its end-to-end twin in the background (the Runs view watches it)"
    "$cli" train --spec "$scratch/fmnist-k1.json" --db "$db" --name "fmnist-k1 e2e" --mode e2e \
        --probes >"$scratch/e2e.log" 2>&1 &
    twin_pid=$!
    pids+=("$twin_pid")
    twin_recorded() {
        twin=$(newest_run)
        [[ -n $twin && $twin != "$greedy" ]]
    }
    wait_until 600 "the end-to-end twin to start" twin_recorded
fi

# --- the X server and the window ----------------------------------------------------------------

rm -f "$scratch/display"
Xvfb -displayfd 3 -screen 0 "${width}x${height}x24" -nolisten tcp -nolisten unix_abstract \
    3>"$scratch/display" >"$scratch/xvfb.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; ++i)); do
    [[ -s $scratch/display ]] && break
    sleep 0.1
done
[[ -s $scratch/display ]] || die "Xvfb did not start: $(cat "$scratch/xvfb.log")"
DISPLAY=:$(head -n1 "$scratch/display")
export DISPLAY

gui_pid=
window=
# start_gui ARGS...: opens Layerwise, sized to the screen, and gives it the keyboard.
start_gui() {
    "$gui" "$@" >>"$scratch/gui.log" 2>&1 &
    gui_pid=$!
    pids+=("$gui_pid")
    window=$(timeout 120 xdotool search --sync --onlyvisible --pid "$gui_pid" --name '^Layerwise' \
        | head -n1) || true
    [[ -n $window ]] || die "the Layerwise window did not appear: $(tail -n5 "$scratch/gui.log")"
    # No window manager: place and size the window directly (--sync would wait forever when the
    # window is there already).
    xdotool windowmove "$window" 0 0
    xdotool windowsize "$window" "$width" "$height"
    sleep 3
    xdotool windowfocus --sync "$window"
}

stop_gui() {
    [[ -n $gui_pid ]] || return 0
    kill "$gui_pid" 2>/dev/null || true
    wait "$gui_pid" 2>/dev/null || true
    gui_pid=
}

key() { xdotool key --clearmodifiers "$@"; }

# click X Y: a left click at window coordinates, then the pointer out of the way (no hover).
click() {
    xdotool mousemove --window "$window" "$1" "$2" click 1
    sleep 0.3
    xdotool mousemove --window "$window" "$((width - 2))" "$((height - 2))"
}

shot() { # NAME [SECONDS]: the whole screen, after the last repaint
    sleep "${2:-2}"
    import -window root "$scratch/$1.png"
    mv "$scratch/$1.png" "$out/$1.png"
    say "wrote $out/$1.png"
}

# select_runs FILTER KEYS...: in the Runs view, types FILTER into the filter field, gives the run
# table the keyboard (four Tabs from the filter) with the first row current, then presses KEYS.
# Runs are selected from the keyboard so that no run is shown alone on the way: the comparison
# gives a run its colour when it first shows it.
select_runs() {
    click "${filter_xy[@]}"
    key ctrl+a BackSpace
    if [[ -n $1 ]]; then
        xdotool type --delay 20 "$1"
        sleep 1
    fi
    shift
    key Tab Tab Tab Tab ctrl+End ctrl+Home "$@"
}

# --- Design, Runs and Compare -------------------------------------------------------------------

start_gui --db "$db" --preset cifar10-k2
key ctrl+1
sleep 1
click $((width / 4)) $((height * 47 / 100)) # the third stage card (Stage 2, the psi stage)
shot design

key ctrl+3
if [[ -n $twin_pid ]]; then
    twin_watched() { (($(run_field "$twin" 'sum(s["epochs_done"] for s in r["stages"])') >= 3)); }
    wait_until 3600 "the end-to-end twin's third epoch" twin_watched
fi
select_runs "" space # the newest run
shot runs 3

if [[ -n $twin_pid ]]; then
    say "waiting for the end-to-end twin to finish"
    wait "$twin_pid" || die "the end-to-end run failed: $(tail -n5 "$scratch/e2e.log")"
    sleep 2 # the Runs view polls the store twice a second
fi
if [[ -n $filter ]]; then
    select_runs "$filter" ctrl+a
else
    select_runs "" space shift+Down # the two newest runs
fi
shot compare 3
key alt+p # the Pictures tab (Alt+P) of the same selection
shot compare-pictures 3
select_runs "$main_run" space
shot pictures 3
stop_gui

# --- Main window: a stored run in the Train view, probed ----------------------------------------

# A fresh window on the default preset (fmnist-k1 on Fashion-MNIST): the Train view's settings
# panel shows a spec whose data is there.
start_gui --db "$db"
key ctrl+3
main_id=$(newest_run "$main_run")
[[ -n $main_id ]] || die "no run matches \"$main_run\" (LAYERWISE_SCREENSHOT_MAIN)"
probes_before=$(run_field "$main_id" 'sorted((p["after_stage"], p["layer"], p["seconds"]) for p in r["probes"])')
layers=$(run_field "$main_id" 'r["stages_planned"]')
select_runs "$main_run" space
click "${probe_button_xy[@]}" # "Run probes": the Train view loads the run's curves and probes it
sleep 2
[[ $(xdotool getwindowname "$window") == *"run $main_id:"* ]] \
    || die "Run probes did not start (is the button at ${probe_button_xy[*]}?)"
probed() {
    local n
    n=$(run_field "$main_id" "sum(1 for p in r['probes'] if (p['after_stage'], p['layer'], p['seconds']) not in $probes_before)")
    ((n >= layers))
}
say "probing run $main_id in the GUI"
wait_until 7200 "the probes of run $main_id" probed
shot main 3
stop_gui

# --- Train: a greedy run in the GUI, in its second stage ----------------------------------------

before=$(newest_run)
start_gui --db "$db" --spec "$scratch/fmnist-k1.json" --start
new_run() {
    local n
    n=$(newest_run)
    [[ -n $n && $n != "$before" ]]
}
wait_until 600 "the GUI to start training" new_run
run=$(newest_run)
in_second_stage() {
    (($(run_field "$run" 'sum(1 for s in r["stages"] if s["stage"] >= 1 and s["epochs_done"] >= 1)') > 0))
}
wait_until 3600 "the GUI run's second stage" in_second_stage
shot train 1
stop_gui
say "done; look at every picture in $out before committing it"
