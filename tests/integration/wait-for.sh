# Sourced by the integration test scripts; the script defines fail MESSAGE.
#
# wait_for WHAT CMD...: runs CMD until it succeeds. The deadline is
# TEST_HANG_GUARD_S of tests/unit/test_support.h: only a hang reaches it,
# since a busy host makes things late, never wrong. No test times anything
# with it, and none sleeps in the hope that something has happened.
wait_for() {
	local what=$1 give_up=$((SECONDS + 300))
	shift
	until "$@"; do
		((SECONDS < give_up)) || fail "$what: not so after 300 s"
		sleep 0.05
	done
}
