//! Retention sweeps: forgetting what can no longer matter
//! (`holdfast_core::retention` says what that is), on every node.
//!
//! Each node runs [`run`] beside the HTTP server. Every
//! `retention.interval_secs` it asks the store for the sweep's lease; the
//! one node that holds it sweeps in steps of `retention.batch` rows per
//! statement until a step leaves nothing behind, resting as long as each
//! step took before the next (so the sweep never holds the write path,
//! SQLite's one writer above all, more than half the time). The others wait for the
//! next interval, so any number of nodes share one database safely; the
//! deletes are idempotent besides, so a node that loses its lease
//! mid-sweep (a long pause) harms nothing. `holdfast retention sweep` runs
//! one sweep by hand.

use std::time::{Duration, Instant};

use holdfast_store::{StoreError, Swept};

use crate::state::AppState;

/// The lease's name in the store.
pub const LEASE: &str = "retention";

/// A finished sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// What it deleted.
    pub swept: Swept,
    /// How many steps it took.
    pub steps: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Sweeps once, now, in steps, without asking for the lease (the caller
/// holds it, or is an operator running it by hand).
pub async fn sweep(state: &AppState) -> Result<SweepReport, StoreError> {
    let policy = state.config.retention;
    let started = Instant::now();
    let longest = state.store.longest_access_token_ttl().await?;
    let cutoffs = policy.cutoffs(state.now(), longest);
    let (mut swept, mut steps) = (Swept::default(), 0);
    loop {
        let step_started = Instant::now();
        let step = state.store.sweep_step(&cutoffs, policy.batch).await?;
        swept.add(&step);
        steps += 1;
        for (kind, n) in step.by_kind() {
            metrics::counter!("holdfast_retention_deleted_total", "kind" => kind).increment(n);
        }
        if step.left_nothing(policy.batch) {
            break;
        }
        // Paced: the sweep holds the store's write path at most half the
        // time, so sign-ins and refreshes queued behind a step go first.
        tokio::time::sleep(step_started.elapsed()).await;
    }
    let elapsed = started.elapsed();
    metrics::histogram!("holdfast_retention_sweep_seconds").record(elapsed.as_secs_f64());
    Ok(SweepReport {
        swept,
        steps,
        elapsed,
    })
}

/// Sweeps when this node holds the lease; `holder` names the node.
/// `None` when another node holds it.
pub async fn sweep_if_leased(
    state: &AppState,
    holder: &str,
) -> Result<Option<SweepReport>, StoreError> {
    let now = state.now();
    let until = now.saturating_add(state.config.retention.interval_secs);
    if !state.store.take_lease(LEASE, holder, now, until).await? {
        return Ok(None);
    }
    sweep(state).await.map(Some)
}

/// Sweeps every `retention.interval_secs` for as long as the node runs
/// (the first sweep one interval after start-up). Errors are logged, never
/// fatal: the next interval tries again.
pub async fn run(state: AppState) {
    let holder = uuid::Uuid::new_v4().to_string();
    let period = Duration::from_secs(state.config.retention.interval_secs.unsigned_abs().max(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sweep_if_leased(&state, &holder).await {
            Ok(Some(report)) => tracing::info!(
                deleted = report.swept.total(),
                steps = report.steps,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "retention sweep"
            ),
            Ok(None) => tracing::debug!("retention sweep: another node holds the lease"),
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed; trying again next interval")
            }
        }
    }
}
