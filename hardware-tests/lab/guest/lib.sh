# Helpers for the lab guest's scripts (sourced by /init, the verifier and every --guest-script).
# lab_dev SERIAL: prints the /dev/sdX of the USB stick with that serial (udev ID_SERIAL_SHORT).
lab_dev() {
    local d s
    for d in /sys/block/sd*; do
        [ -e "$d" ] || continue
        s=$(udevadm info --query=property --name="${d##*/}" 2>/dev/null | sed -n 's/^ID_SERIAL_SHORT=//p')
        if [ "$s" = "$1" ]; then
            echo "/dev/${d##*/}"
            return 0
        fi
    done
    return 1
}
# lab_part SERIAL N: prints the /dev node of partition N of that stick.
lab_part() {
    local d p
    d=$(lab_dev "$1") || return 1
    for p in /sys/block/"${d##*/}"/"${d##*/}"*; do
        [ "$(cat "$p/partition" 2>/dev/null)" = "$2" ] && { echo "/dev/${p##*/}"; return 0; }
    done
    return 1
}
