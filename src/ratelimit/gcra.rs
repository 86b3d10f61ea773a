//! The generic cell rate algorithm: the Lua scripts Redis runs, and their twin in Rust for when
//! Redis cannot be reached.

use super::Quota;

/// One GCRA step for a key, as a Lua function the scripts below share. Times are microseconds
/// from Redis' own clock. It first gives back `back` requests claimed earlier and not used, then
/// takes up to `take` requests, as many as are left (a slice, see `slice.rs`); with `take` 0 it
/// only looks: would one more request pass? It answers how many it took (for a look, 1 if one
/// more would pass), what is left, the time until the budget is whole and, when nothing could be
/// taken, until one request would pass.
pub(super) const GCRA_STEP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function step(key, interval, limit, take, back)
  local window = interval * limit
  local tat = tonumber(redis.call('GET', key) or now) - back * interval
  if tat < now then tat = now end
  local fit = math.floor((window - (tat - now)) / interval)
  local taken = 0
  if fit >= 1 then taken = math.min(take, fit) end
  local new_tat = tat + taken * interval
  if taken > 0 or back > 0 then
    redis.call('SET', key, string.format('%d', new_tat), 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
  end
  if fit < 1 then
    return {0, 0, tat - now, tat + interval - window - now}
  end
  if take == 0 then
    return {1, fit, tat - now, 0}
  end
  return {taken, math.floor((window - (new_tat - now)) / interval), new_tat - now, 0}
end
";

/// GCRA in one round trip: ARGV = interval, limit, take (0 only looks), back.
pub(super) const GCRA: &str = r"
return step(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
";

/// Two budgets in one round trip: looks at KEYS[1] (ARGV 1–2) and, unless it has nothing left,
/// spends one request from KEYS[2] (ARGV 3–4). The fifth value says whose decision it is (1: the
/// first's).
pub(super) const GCRA_GUARDED: &str = r"
local guard = step(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 0, 0)
if guard[1] == 0 then
  guard[5] = 1
  return guard
end
local spent = step(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), 1, 0)
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
