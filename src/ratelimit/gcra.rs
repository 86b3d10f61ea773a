//! The generic cell rate algorithm: the Lua scripts Redis runs, and their twin in Rust for when
//! Redis cannot be reached.

use super::Quota;

/// One GCRA step for a key, as a Lua function the scripts below share. Times are microseconds
/// from Redis' own clock. Without `spend` it only looks: would one more request pass?
pub(super) const GCRA_STEP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function step(key, interval, limit, spend)
  local window = interval * limit
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > window then
    return {0, 0, tat - now, new_tat - window - now}
  end
  if not spend then
    return {1, math.floor((window - (tat - now)) / interval), tat - now, 0}
  end
  redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
  return {1, math.floor((window - (new_tat - now)) / interval), new_tat - now, 0}
end
";

/// GCRA in one round trip: ARGV = interval, limit, spend (0 only looks).
pub(super) const GCRA: &str = r"
return step(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] ~= '0')
";

/// Two budgets in one round trip: looks at KEYS[1] (ARGV 1–2) and, unless it has nothing left,
/// spends from KEYS[2] (ARGV 3–4). The fifth value says whose decision it is (1: the first's).
pub(super) const GCRA_GUARDED: &str = r"
local guard = step(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), false)
if guard[1] == 0 then
  guard[5] = 1
  return guard
end
local spent = step(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), true)
spent[5] = 0
return spent
";

/// One GCRA step at `now` (the Lua script's twin); returns (allowed, remaining, reset, retry
/// after), in microseconds. Without `spend` it only looks.
pub(super) fn gcra(now: u64, tat: &mut u64, quota: Quota, spend: bool) -> (bool, u64, u64, u64) {
    let interval = quota.interval_us();
    let window = interval * quota.per_min;
    let current = (*tat).max(now);
    let next = current + interval;
    if next - now > window {
        return (false, 0, current - now, next - window - now);
    }
    if !spend {
        return (
            true,
            (window - (current - now)) / interval,
            current - now,
            0,
        );
    }
    *tat = next;
    (true, (window - (next - now)) / interval, next - now, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_budget_goes_at_once_then_one_per_interval() {
        let quota = Quota { per_min: 3 };
        let mut tat = 0;
        let t0 = 1_000_000;
        // Looking spends nothing.
        assert_eq!(gcra(t0, &mut tat, quota, false), (true, 3, 0, 0));
        assert_eq!(tat, 0);
        let remaining: Vec<_> = (0..3).map(|_| gcra(t0, &mut tat, quota, true)).collect();
        assert_eq!(
            remaining.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
            vec![(true, 2), (true, 1), (true, 0)]
        );
        let refused = gcra(t0, &mut tat, quota, true);
        assert!(!refused.0);
        assert_eq!(refused.3, 20_000_000, "one slot frees after 60 s / 3");
        assert!(!gcra(t0 + 19_999_999, &mut tat, quota, true).0);
        assert_eq!(
            gcra(t0 + 20_000_000, &mut tat, quota, true),
            (true, 0, 60_000_000, 0)
        );
    }
}
