# What the lab guest's PID 1 needs in both of its stages (sourced by /init in the initramfs and by
# /lab-scenario): console markers, the results disk, power off.
# Markers on the serial console start with "@@LAB:" so the host can follow the run.
marker() { echo "@@LAB:$*@@"; }

# Reports a failure of the lab itself (not of the code under test) and ends the run.
die() {
    marker "FAIL $*"
    mkdir -p /out
    echo "$*" >/out/lab-error
    finish
}

# Writes /out as a tar onto the results disk ($LAB_OUT_DEV) and powers off.
finish() {
    sync
    if [ -n "$LAB_OUT_DEV" ]; then
        (cd /out && tar -c -f "$LAB_OUT_DEV" .) && sync
    fi
    marker "POWEROFF"
    # busybox in the initramfs; the installed root has no poweroff without systemd: ask the kernel.
    poweroff -f 2>/dev/null || echo o >/proc/sysrq-trigger
    sleep 60
}
