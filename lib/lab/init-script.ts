// /init of the guest's initramfs (busybox sh). It loads the modules, mounts the host's root read-only
// over virtio-9p, mounts the work and run folders writable, and runs the host-written run.sh in a chroot.
export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 > /proc/sys/kernel/printk
say() { echo "lab-guest: $*"; }
die() { say "$*"; echo "RDMA_CCM_LAB_EXIT=125"; poweroff -f; sleep 5; }
for m in /mods/*.ko; do insmod "$m" $(cat "\${m%.ko}.args" 2>/dev/null) || say "insmod $m failed"; done
for kv in $(cat /proc/cmdline); do
  case "$kv" in lab.workdir=*) WORKDIR="\${kv#lab.workdir=}";; esac
done
o9p="trans=virtio,version=9p2000.L,msize=524288"
mount -t 9p -o "$o9p,cache=loose,ro" hostroot /host || die "cannot mount the host root over 9p"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -o bind /dev /host/dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /host/dev/pts && mount -t tmpfs shm /host/dev/shm
for d in /tmp /run /var/tmp /root; do mount -t tmpfs -o mode=1777 tmpfs "/host$d" || die "cannot mount tmpfs on $d"; done
mkdir -p /host/tmp/lab
mount -t 9p -o "$o9p" labrun /host/tmp/lab || die "cannot mount the run folder"
if [ -n "$WORKDIR" ]; then
  mkdir -p "/host$WORKDIR" 2>/dev/null
  mount -t 9p -o "$o9p,cache=mmap" work "/host$WORKDIR" || die "cannot mount $WORKDIR"
fi
chroot /host /bin/bash /tmp/lab/run.sh
code=$?
echo "$code" > /host/tmp/lab/exit
sync
echo "RDMA_CCM_LAB_EXIT=$code"
poweroff -f
sleep 5
`;
