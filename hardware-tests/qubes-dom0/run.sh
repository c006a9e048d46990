#!/bin/sh
# Provision SecureDrop Workstation in a real Qubes OS 4.3 dom0 with sdw-admin (the
# installed RPM) and our packages, and check the result with Qubes' own tools (not
# with sdw-admin's client).
# Run in dom0 as the desktop user (member of the qubes group):
#     ./run.sh CONFIG_DIR PACKAGES_DIR [PATH_TO_SDW_ADMIN]
set -eu

config="${1:?usage: run.sh CONFIG_DIR PACKAGES_DIR [SDW_ADMIN]}"
packages="${2:?usage: run.sh CONFIG_DIR PACKAGES_DIR [SDW_ADMIN]}"
admin="${3:-sdw-admin}"
failures=0

# The version of the newest NAME_VERSION_amd64.deb in the packages folder.
newest() {
    ls "$packages" | sed -n "s/^$1_\(.*\)_amd64\.deb\$/\1/p" | sort -V | tail -n 1
}
devices_version=$(newest sdw-devices)
client_version=$(newest sdw-client)
[ -n "$devices_version" ] && [ -n "$client_version" ] ||
    { echo "no sdw-devices_*_amd64.deb or sdw-client_*_amd64.deb in $packages"; exit 2; }
in_template() { # in_template TEMPLATE COMMAND: run as root, print stdout
    qvm-run --pass-io --no-gui --user root "$1" "$2" 2>/dev/null || true
}

step() { printf '\n== %s\n' "$*"; }
expect() { # expect DESCRIPTION ACTUAL WANTED
    if [ "$2" = "$3" ]; then
        printf 'ok    %s\n' "$1"
    else
        printf 'FAIL  %s: got %s, want %s\n' "$1" "'$2'" "'$3'"
        failures=$((failures + 1))
    fi
}

step "validate"
"$admin" validate "$config"

step "plan"
"$admin" plan --config "$config" --packages "$packages"

step "apply (root: writes /etc/qubes/policy.d)"
sudo "$admin" -v apply --config "$config" --packages "$packages"

step "a second plan is empty"
expect "plan after apply" "$("$admin" plan --config "$config" --packages "$packages")" \
    "No changes: the system matches the SecureDrop Workstation topology."

step "check"
"$admin" check --config "$config" --packages "$packages" || failures=$((failures + 1))

step "independent checks with qvm-* tools"
sd_app_gib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vmsizes"]["sd_app"])' "$config/config.json")
sd_log_gib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vmsizes"]["sd_log"])' "$config/config.json")
fpr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["submission_key_fpr"])' "$config/config.json")
expect "tagged qubes" "$(qvm-ls --raw-list --tags sd-workstation | sort | tr '\n' ' ')" \
    "sd-app sd-base-debian-13 sd-devices sd-devices-dvm sd-gpg sd-inbox-debian-13 sd-log sd-printers sd-proxy sd-proxy-dvm sd-viewer sd-viewer-debian-13 "
expect "global default_dispvm" "$(qubes-prefs default_dispvm)" "sd-viewer"
expect "global default_template" "$(qubes-prefs default_template)" "fedora-43-xfce"
expect "sd-app template" "$(qvm-prefs sd-app template)" "sd-inbox-debian-13"
expect "sd-app netvm" "$(qvm-prefs sd-app netvm)" ""
expect "sd-app default_dispvm" "$(qvm-prefs sd-app default_dispvm)" "sd-viewer"
expect "sd-app kernel" "$(qvm-prefs sd-app kernel)" "pvgrub2-pvh"
expect "sd-app private size" "$(qvm-volume info sd-app:private size)" "$((sd_app_gib * 1073741824))"
expect "sd-log private size" "$(qvm-volume info sd-log:private size)" "$((sd_log_gib * 1073741824))"
expect "sd-app submission key" "$(qvm-features sd-app vm-config.SD_SUBMISSION_KEY_FPR)" "$fpr"
expect "sd-proxy class" "$(qvm-prefs sd-proxy klass)" "DispVM"
expect "sd-proxy netvm" "$(qvm-prefs sd-proxy netvm)" "sys-firewall"
expect "sd-devices class" "$(qvm-prefs sd-devices klass)" "DispVM"
expect "sd-devices avahi" "$(qvm-features sd-devices service.avahi 2>/dev/null || echo unset)" "unset"
expect "sd-printers cups" "$(qvm-features sd-printers service.cups)" "1"
expect "sd-printers export target" "$(qvm-tags sd-printers list | grep -cx sd-export-target)" "1"
expect "sd-gpg autostart" "$(qvm-prefs sd-gpg autostart)" "True"
expect "sd-log epoch" "$(qvm-features sd-log sd-install-epoch)" "1001"
expect "sys-usb template" "$(qvm-prefs sys-usb template)" "sd-fedora-43-dvm"
for f in 31 32; do
    expect "policy $f installed" "$(stat -c %a "/etc/qubes/policy.d/$f-securedrop-workstation.policy")" "664"
done
expect "qrexec: sd-app may log" \
    "$(qrexec-policy-graph --service securedrop.Log 2>/dev/null | grep -c '"sd-app" -> "sd-log"' || true)" "1"
expect "qrexec: sys-usb may not attach to sd-gpg" \
    "$(qrexec-policy-graph --service qubes.USBAttach 2>/dev/null | grep -c '"sys-usb" -> "sd-gpg"' || true)" "0"
for target in sd-devices sd-printers; do
    expect "qrexec: sd-app may call securedrop.Export in $target" \
        "$(qrexec-policy-graph --service securedrop.Export 2>/dev/null | grep -c "\"sd-app\" -> \"$target\"" || true)" "1"
    expect "qrexec: sd-viewer may not call securedrop.Export in $target" \
        "$(qrexec-policy-graph --service securedrop.Export 2>/dev/null | grep -c "\"sd-viewer\" -> \"$target\"" || true)" "0"
done

step "our packages in the templates (starts and stops them)"
expect "sdw-devices in sd-viewer-debian-13" \
    "$(in_template sd-viewer-debian-13 "dpkg-query -W -f='\${db:Status-Status} \${Version}' sdw-devices")" \
    "installed $devices_version"
expect "no securedrop-export in sd-viewer-debian-13" \
    "$(in_template sd-viewer-debian-13 "dpkg-query -W -f='\${db:Status-Status}' securedrop-export")" ""
expect "user in lpadmin in sd-viewer-debian-13" \
    "$(in_template sd-viewer-debian-13 'id -nG user' | tr ' ' '\n' | grep -cx lpadmin)" "1"
expect "sdw-client in sd-inbox-debian-13" \
    "$(in_template sd-inbox-debian-13 "dpkg-query -W -f='\${db:Status-Status} \${Version}' sdw-client")" \
    "installed $client_version"
expect "the export service in sd-viewer-debian-13" \
    "$(in_template sd-viewer-debian-13 'test -x /etc/qubes-rpc/securedrop.Export && echo yes')" "yes"
qvm-shutdown --wait sd-viewer-debian-13 sd-inbox-debian-13

step "sys-usb has the auto-attach files"
qvm-run --pass-io --no-gui --user root sys-usb \
    'test -e /etc/udev/rules.d/99-sd-devices.rules && test -x /usr/local/bin/sd-attach-export-device' \
    && echo "ok    sys-usb files" || { echo "FAIL  sys-usb files"; failures=$((failures + 1)); }

step "result"
if [ "$failures" -eq 0 ]; then echo "all checks passed"; else echo "$failures checks failed"; exit 1; fi
