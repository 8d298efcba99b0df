#!/usr/bin/env bash
# A real single-node Slurm on localhost for the test session (Debian 12, Slurm 22.05).
#
#   tests/slurm/local_cluster.sh start   install what is missing, start what is not running
#   tests/slurm/local_cluster.sh stop    stop only the daemons this script started
#   tests/slurm/local_cluster.sh status  exit 0 when the cluster answers and its node is up
#   tests/slurm/local_cluster.sh env     print `export SLURM_CONF=...` for a shell
#
# Everything lives in $VIDCURATE_SLURM_DIR (default /tmp/vidcurate-slurm): config, state,
# logs, a private MariaDB. Slurm uses its own ports (16817-16819) and clients find it
# through SLURM_CONF. One exception: the plugin's job step strips every SLURM_* variable
# before its inner `srun`, so /etc/slurm/slurm.conf must lead to this config too; it is
# linked when absent (and unlinked by stop), and an existing one stops this script.
# Accounting (slurmdbd + MariaDB) runs because the executor plugin polls job states with
# sacct whenever sacct exists, and tests read requested GPUs/CPUs/memory from sacct.
# The node advertises 8 CPUs, 32 GB and 2 GPUs whatever the machine has, so jobs
# that ask for the profile's resources are scheduled (and share the real cores).
set -euo pipefail

DIR=${VIDCURATE_SLURM_DIR:-/tmp/vidcurate-slurm}
CONF=$DIR/etc/slurm.conf
STARTED=$DIR/started # "name pid" of each daemon this script started
SYSTEM_CONF=/etc/slurm/slurm.conf
LOG=$DIR/log
CLUSTER=vidcurate
DB_PORT=13306
NODE_CPUS=8
NODE_MEM_MB=32000
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
export SLURM_CONF=$CONF

say() { echo "local_cluster: $*" >&2; }
die() {
	say "$*"
	exit 1
}

need_root() {
	[ "$(id -u)" = 0 ] && return
	command -v sudo >/dev/null && sudo -n true 2>/dev/null ||
		die "needs root or passwordless sudo (it installs Debian packages and runs daemons)"
	exec sudo -n --preserve-env=VIDCURATE_SLURM_DIR "$0" "$@"
}

install_packages() {
	local missing=()
	for package in "${PACKAGES[@]}"; do
		dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
	done
	[ ${#missing[@]} = 0 ] && return
	command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
	say "installing ${missing[*]}"
	# packages must not start their services: this script starts its own, privately
	local own_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		own_policy=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
	[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
	return 0
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# pid this script recorded for a daemon, if it is still running
started_pid() {
	[ -f "$STARTED" ] || return 0
	local pid
	pid=$(awk -v n="$1" '$1 == n {print $2}' "$STARTED" | tail -n 1)
	alive "$pid" && echo "$pid"
	return 0
}

record() { echo "$1 $2" >>"$STARTED"; }

# wait up to $2 seconds for command $1 to succeed
wait_for() {
	local deadline=$((SECONDS + $2))
	until eval "$1" >/dev/null 2>&1; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.5
	done
}

write_config() {
	mkdir -p "$DIR/etc" "$DIR/ctld" "$DIR/spool" "$LOG" "$DIR/gpu"
	# fake GPUs: gres wants device files, and regular files are rejected
	ln -sfn /dev/null "$DIR/gpu/nvidia0"
	ln -sfn /dev/null "$DIR/gpu/nvidia1"
	local previous=
	[ -f "$CONF" ] && previous=$(cat "$CONF")
	cat >"$CONF" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
MailProg=/bin/true
# no cgroups in containers: track processes by parent pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# trust the CPUs/memory below rather than what slurmd detects
SlurmdParameters=config_overrides
# without a default, a job gets the node's whole memory and jobs run one at a time
DefMemPerCPU=1000
ReturnToService=2
# keep finished jobs in scontrol for an hour, next to sacct's records
MinJobAge=3600
SchedulerParameters=sched_interval=2
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=16819
AccountingStorageTRES=gres/gpu
# sacct shows the plugin's --comment (rule_<rule>_wildcards_...): which rule a job ran
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
NodeName=localhost CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
	# daemons started with an older config are restarted below
	if [ -n "$previous" ] && [ "$previous" != "$(cat "$CONF")" ]; then
		stop_daemon slurmd
		stop_daemon slurmctld
	fi
	cat >"$DIR/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu File=$DIR/gpu/nvidia[0-1]
EOF
	# slurmdbd refuses a config others can read
	install -m 600 /dev/null "$DIR/etc/slurmdbd.conf"
	cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=16819
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
}

link_system_conf() {
	if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then return; fi
	[ -e "$SYSTEM_CONF" ] &&
		die "$SYSTEM_CONF exists (another Slurm here?); the plugin's job steps read only that file"
	mkdir -p "$(dirname "$SYSTEM_CONF")"
	ln -s "$CONF" "$SYSTEM_CONF"
}

unlink_system_conf() {
	if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
		rm -f "$SYSTEM_CONF"
	fi
}

start_munge() {
	if wait_for "munge -n | unmunge" 1; then return; fi
	[ -f /etc/munge/munge.key ] || die "no /etc/munge/munge.key (the munge package makes one)"
	install -d -o munge -g munge -m 755 /run/munge
	runuser -u munge -- /usr/sbin/munged
	wait_for "munge -n | unmunge" 10 || die "munged did not start"
	record munged "$(pgrep -u munge -n -x munged)"
}

start_mariadb() {
	[ -n "$(started_pid mariadbd)" ] && return
	local data=$DIR/mysql
	install -d -o mysql -g mysql "$DIR/mysql-run"
	if [ ! -d "$data/mysql" ]; then
		install -d -o mysql -g mysql "$data"
		mariadb-install-db --user=mysql --datadir="$data" --skip-test-db \
			>"$LOG/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: $LOG/mariadb-install.log"
	fi
	mariadbd --user=mysql --datadir="$data" --port=$DB_PORT --bind-address=127.0.0.1 \
		--socket="$DIR/mysql-run/mysqld.sock" --pid-file="$DIR/mysql-run/mysqld.pid" \
		--log-error="$DIR/mysql-run/mariadb.log" --innodb-buffer-pool-size=64M &
	record mariadbd $!
	wait_for "mariadb --socket=$DIR/mysql-run/mysqld.sock -e 'select 1'" 60 ||
		die "mariadbd did not start: $DIR/mysql-run/mariadb.log"
	mariadb --socket="$DIR/mysql-run/mysqld.sock" -e "
		CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
		CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
		GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
		GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

start_slurmdbd() {
	[ -n "$(started_pid slurmdbd)" ] && return
	slurmdbd
	wait_for "sacctmgr -n show cluster" 60 || die "slurmdbd did not start: $LOG/slurmdbd.log"
	record slurmdbd "$(cat "$DIR/slurmdbd.pid")"
	sacctmgr -i -Q add cluster "$CLUSTER" >/dev/null 2>&1 || true
}

add_accounts() {
	sacctmgr -i -Q add account "$CLUSTER" Cluster="$CLUSTER" Description=tests Organization=tests \
		>/dev/null 2>&1 || true
	local user
	for user in root ${SUDO_USER:-}; do
		sacctmgr -i -Q add user "$user" Account="$CLUSTER" DefaultAccount="$CLUSTER" \
			>/dev/null 2>&1 || true
	done
}

start_slurm() {
	if [ -z "$(started_pid slurmctld)" ]; then
		slurmctld
		wait_for "scontrol ping | grep -q UP" 30 || die "slurmctld did not start: $LOG/slurmctld.log"
		record slurmctld "$(cat "$DIR/slurmctld.pid")"
	fi
	if [ -z "$(started_pid slurmd)" ]; then
		slurmd -N localhost
		wait_for "test -s $DIR/slurmd.pid" 30 || die "slurmd did not start: $LOG/slurmd.log"
		record slurmd "$(cat "$DIR/slurmd.pid")"
	fi
	# a drain reason from an earlier session survives in the saved state
	scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
	wait_for "sinfo -h -n localhost -o %t | grep -Eq '^(idle|mix|alloc)'" 60 ||
		die "node localhost is not up: $(sinfo -h -N -o '%N %t %E'); see $LOG/slurmd.log"
}

start() {
	install_packages
	mkdir -p "$DIR"
	write_config
	link_system_conf
	start_munge
	start_mariadb
	start_slurmdbd
	add_accounts
	start_slurm
	say "up: SLURM_CONF=$CONF"
}

stop_daemon() {
	local pid
	pid=$(started_pid "$1")
	[ -n "$pid" ] || return 0
	kill "$pid"
	for _ in $(seq 60); do
		alive "$pid" || break
		sleep 0.5
	done
	alive "$pid" && kill -9 "$pid"
	say "stopped $1 ($pid)"
}

stop() {
	if [ -f "$STARTED" ]; then
		# reverse start order: compute daemon, controller, accounting, database, auth
		for name in slurmd slurmctld slurmdbd mariadbd munged; do
			stop_daemon "$name"
		done
		rm -f "$STARTED"
	fi
	unlink_system_conf
}

case ${1:-} in
start) need_root "$@" && start ;;
stop) need_root "$@" && stop ;;
status) scontrol ping 2>/dev/null | grep -q UP &&
	sinfo -h -n localhost -o %t 2>/dev/null | grep -Eq '^(idle|mix|alloc)' ;;
env) echo "export SLURM_CONF=$CONF" ;;
*) die "usage: $0 start|stop|status|env" ;;
esac
