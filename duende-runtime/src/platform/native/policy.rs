//! When the supervisor restarts its daemon, and after how long: pure decisions, with the time and
//! the random draw passed in, so every rule is tested exactly.
//!
//! - The policy (`restart`): `never` never restarts; `on-failure` restarts after a non-zero exit
//!   or a death by signal; `always` and `unless-stopped` also after exit 0 (an operator's `stop`
//!   is not an exit: it ends the supervisor, which restarts nothing).
//! - Exit 78 (bad configuration) and 64 (bad usage) are never restarted: a restart would fail the
//!   same way, in a loop.
//! - The delay grows exponentially: `initial × multiplier^(n-1)` for the n-th restart in a row,
//!   capped at `max`, then drawn with jitter: uniformly in `[cap × (1 - jitter), cap]`, so
//!   `jitter = 1.0` is full jitter (uniform in `[0, cap]`) and many daemons failing together do not
//!   come back in step.
//! - A run that lasted at least `min_uptime` was a success: the next failure starts from
//!   `initial` again.
//! - The budget: more than `budget` restarts within `window` and the supervisor gives up, says why,
//!   and the service counts as failed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::RestartPolicy;

/// Exit statuses that a restart cannot cure: 64 (usage) and 78 (configuration).
const PERMANENT: [i32; 2] = [64, 78];

/// The rules, from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// `restart`.
    pub policy: RestartPolicy,
    /// `backoff.initial`.
    pub initial: Duration,
    /// `backoff.max`.
    pub max: Duration,
    /// `backoff.multiplier`.
    pub multiplier: f64,
    /// `backoff.jitter`: the part of the delay that is drawn at random.
    pub jitter: f64,
    /// Restarts allowed within `window` (`platform.native.restart_budget`).
    pub budget: u32,
    /// The budget's window.
    pub window: Duration,
    /// `platform.native.min_uptime`.
    pub min_uptime: Duration,
}

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl Ended {
    /// The status a shell would show: the exit code, or 128 + the signal.
    pub fn status(self) -> i32 {
        match self {
            Ended::Exited(code) => code,
            Ended::Signaled(signal) => 128 + signal,
        }
    }

    fn failed(self) -> bool {
        self != Ended::Exited(0)
    }
}

/// What to do after the daemon ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start it again after `delay`; this is restart number `attempt` in a row, whose delay was
    /// drawn below `cap`.
    Restart {
        /// The drawn delay.
        delay: Duration,
        /// The ceiling it was drawn under.
        cap: Duration,
        /// Consecutive restarts, this one included.
        attempt: u32,
    },
    /// The policy does not restart after this end (a clean exit under `on-failure`).
    Stay {
        /// Why.
        reason: String,
    },
    /// Restarting would not help, or the budget is spent.
    GiveUp {
        /// Why, and what to do.
        reason: String,
    },
}

/// The restart history the decisions depend on.
#[derive(Debug, Clone, Default)]
pub struct Restarts {
    consecutive: u32,
    recent: VecDeque<Instant>,
}

impl Restarts {
    /// No restarts yet.
    pub fn new() -> Restarts {
        Restarts::default()
    }

    /// Decides what follows `ended` after a run of `ran_for`, at `now`, with `random` drawn
    /// uniformly from `[0, 1)`.
    pub fn decide(&mut self, rules: &Rules, ended: Ended, ran_for: Duration, now: Instant, random: f64) -> Decision {
        if ran_for >= rules.min_uptime {
            self.consecutive = 0;
        }
        if let Ended::Exited(code) = ended
            && PERMANENT.contains(&code)
        {
            let what = if code == 78 { "its configuration is invalid" } else { "it was started wrongly" };
            return Decision::GiveUp {
                reason: format!(
                    "the daemon exited with status {code}: {what}, and a restart would fail the same way; fix the \
                     configuration, then `start` again"
                ),
            };
        }
        let restarts = match rules.policy {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => ended.failed(),
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        };
        if !restarts {
            let policy = match rules.policy {
                RestartPolicy::Never => "never",
                _ => "on-failure",
            };
            return Decision::Stay {
                reason: format!(
                    "the daemon ended ({}) and `restart = \"{policy}\"` does not restart it",
                    describe(ended)
                ),
            };
        }
        while self.recent.front().is_some_and(|at| now.saturating_duration_since(*at) >= rules.window) {
            self.recent.pop_front();
        }
        if self.recent.len() >= usize::try_from(rules.budget).unwrap_or(usize::MAX) {
            return Decision::GiveUp {
                reason: format!(
                    "restarted {} times within {}; giving up (restart_budget = \"{} in {}\"); `start` tries again",
                    self.recent.len(),
                    humantime::format_duration(rules.window),
                    rules.budget,
                    humantime::format_duration(rules.window)
                ),
            };
        }
        self.consecutive += 1;
        self.recent.push_back(now);
        let cap = cap(rules, self.consecutive);
        let random = random.clamp(0.0, 1.0);
        let delay = cap.mul_f64(1.0 - rules.jitter) + cap.mul_f64(rules.jitter * random);
        Decision::Restart { delay, cap, attempt: self.consecutive }
    }
}

/// The delay ceiling of the `attempt`-th restart in a row.
fn cap(rules: &Rules, attempt: u32) -> Duration {
    let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
    let factor = rules.multiplier.powi(exponent);
    let seconds = rules.initial.as_secs_f64() * factor;
    if !seconds.is_finite() || seconds >= rules.max.as_secs_f64() {
        rules.max
    } else {
        Duration::from_secs_f64(seconds)
    }
}

/// "exit status 3", "killed by signal 9".
pub fn describe(ended: Ended) -> String {
    match ended {
        Ended::Exited(code) => format!("exit status {code}"),
        Ended::Signaled(signal) => format!("killed by signal {signal}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            policy: RestartPolicy::OnFailure,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.0,
            budget: 5,
            window: Duration::from_secs(60),
            min_uptime: Duration::from_secs(10),
        }
    }

    fn delays(rules: &Rules, n: usize, random: f64) -> Vec<Duration> {
        let mut restarts = Restarts::new();
        let now = Instant::now();
        (0..n)
            .map(|i| {
                let at = now + Duration::from_secs(61 * i as u64);
                match restarts.decide(rules, Ended::Exited(1), Duration::ZERO, at, random) {
                    Decision::Restart { delay, .. } => delay,
                    other => panic!("not restarted: {other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        assert_eq!(delays(&rules(), 6, 0.5), ms(&[100, 200, 400, 800, 1000, 1000]));
    }

    #[test]
    fn full_jitter_draws_between_zero_and_the_cap() {
        let full = Rules { jitter: 1.0, ..rules() };
        assert_eq!(delays(&full, 3, 0.0), [Duration::ZERO; 3]);
        assert_eq!(delays(&full, 3, 0.25), [25, 50, 100].map(Duration::from_millis));
        let mut restarts = Restarts::new();
        let decision = restarts.decide(&full, Ended::Signaled(9), Duration::ZERO, Instant::now(), 0.999);
        let Decision::Restart { delay, cap, attempt } = decision else { panic!("{decision:?}") };
        assert!(delay < cap && delay > Duration::from_millis(99), "{delay:?} {cap:?}");
        assert_eq!(attempt, 1);
        let half = Rules { jitter: 0.5, ..rules() };
        assert_eq!(delays(&half, 1, 0.0), [Duration::from_millis(50)], "half the delay is fixed");
    }

    #[test]
    fn a_long_run_resets_the_backoff() {
        let mut restarts = Restarts::new();
        let rules = rules();
        let now = Instant::now();
        let mut attempt = |ran: u64| match restarts.decide(&rules, Ended::Exited(1), Duration::from_secs(ran), now, 0.0)
        {
            Decision::Restart { attempt, delay, .. } => (attempt, delay),
            other => panic!("{other:?}"),
        };
        assert_eq!(attempt(0), (1, Duration::from_millis(100)));
        assert_eq!(attempt(1), (2, Duration::from_millis(200)));
        assert_eq!(attempt(10), (1, Duration::from_millis(100)), "ten seconds up reset it");
    }

    #[test]
    fn the_budget_gives_up_and_recovers_as_the_window_moves() {
        let mut restarts = Restarts::new();
        let rules = Rules { budget: 3, ..rules() };
        let now = Instant::now();
        for i in 0..3 {
            let at = now + Duration::from_secs(i);
            assert!(matches!(
                restarts.decide(&rules, Ended::Exited(1), Duration::ZERO, at, 0.0),
                Decision::Restart { .. }
            ));
        }
        let fourth = restarts.decide(&rules, Ended::Exited(1), Duration::ZERO, now + Duration::from_secs(3), 0.0);
        let Decision::GiveUp { reason } = fourth else { panic!("{fourth:?}") };
        assert_eq!(
            reason,
            "restarted 3 times within 1m; giving up (restart_budget = \"3 in 1m\"); `start` tries again"
        );
        let later = restarts.decide(&rules, Ended::Exited(1), Duration::ZERO, now + Duration::from_secs(61), 0.0);
        assert!(matches!(later, Decision::Restart { .. }), "the first restart left the window: {later:?}");
    }

    #[test]
    fn bad_configuration_is_never_restarted() {
        let always = Rules { policy: RestartPolicy::Always, ..rules() };
        for code in [78, 64] {
            let decision = Restarts::new().decide(&always, Ended::Exited(code), Duration::ZERO, Instant::now(), 0.0);
            let Decision::GiveUp { reason } = decision else { panic!("{decision:?}") };
            assert!(reason.contains(&format!("status {code}")) && reason.contains("`start` again"), "{reason}");
        }
    }

    #[test]
    fn the_policy_decides_which_ends_restart() {
        let decide = |policy, ended| {
            let rules = Rules { policy, ..rules() };
            matches!(
                Restarts::new().decide(&rules, ended, Duration::ZERO, Instant::now(), 0.0),
                Decision::Restart { .. }
            )
        };
        use RestartPolicy::*;
        let (clean, failed, killed) = (Ended::Exited(0), Ended::Exited(3), Ended::Signaled(9));
        assert!(!decide(Never, failed) && !decide(Never, killed));
        assert!(!decide(OnFailure, clean) && decide(OnFailure, failed) && decide(OnFailure, killed));
        assert!(decide(Always, clean) && decide(UnlessStopped, clean) && decide(Always, killed));
        let stay = Restarts::new().decide(&rules(), clean, Duration::ZERO, Instant::now(), 0.0);
        assert_eq!(
            stay,
            Decision::Stay {
                reason: "the daemon ended (exit status 0) and `restart = \"on-failure\"` does not restart it"
                    .to_owned()
            }
        );
        assert_eq!(Ended::Signaled(9).status(), 137);
    }
}
