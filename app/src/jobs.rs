//! Jobs on a server: admins queue installs of exact patch versions, reboots
//! at a time, and refreshes; admins and the server's owner watch them run,
//! with the agent's log.

use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A job as shown on the server page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// Job id.
    pub id: i64,
    /// install, rollback, reboot or refresh.
    pub kind: String,
    /// For installs and rollbacks: `name=version (arch)` per package.
    pub packages: Vec<String>,
    /// queued, running, rebooting, succeeded, failed, expired, cancelled.
    pub state: String,
    /// Not before (seconds since the epoch).
    pub not_before: i64,
    /// Expires if not started by then.
    pub not_after: i64,
    /// Attempts so far.
    pub attempt: i64,
    /// Exit code of the package manager.
    pub exit_code: Option<i64>,
    /// Tail of the agent's log.
    pub log: String,
    /// Why it failed, expired or was retried.
    pub reason: String,
    /// Who queued it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: i64,
    /// Last started.
    pub started_at: Option<i64>,
    /// Ended.
    pub finished_at: Option<i64>,
    /// The reader may roll this install back now (an admin, or the owner
    /// when admins allow it; the install succeeded, the versions before it
    /// are known, no rollback of it is under way or done).
    pub can_roll_back: bool,
}

/// A page of jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPage {
    /// Jobs on this page, newest first.
    pub items: Vec<JobView>,
    /// Jobs in all.
    pub total: i64,
    /// Some job is still queued or running (the page keeps refreshing).
    pub active: bool,
}

/// Jobs per page.
pub const JOBS_PER_PAGE: i64 = 20;

/// Longest window a job may wait to start, in hours (a week).
pub const MAX_WINDOW_HOURS: i64 = 168;

#[cfg(feature = "ssr")]
fn job_view(j: patchport_db::jobs::JobRow) -> JobView {
    let packages = j
        .spec
        .packages()
        .iter()
        .map(|p| format!("{}={} ({})", p.name, p.version, p.arch))
        .collect();
    JobView {
        id: j.id,
        kind: j.spec.kind().to_owned(),
        packages,
        state: j.state,
        not_before: j.not_before,
        not_after: j.not_after,
        attempt: j.attempt,
        exit_code: j.exit_code,
        log: j.log,
        reason: j.reason,
        created_by: j.created_by,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
        can_roll_back: false,
    }
}

/// Parses `YYYY-MM-DDTHH:MM` (what a `datetime-local` field sends), read
/// in the user's zone, or empty for "now".
#[cfg(feature = "ssr")]
fn parse_start(text: &str, now: i64, zone: &str) -> Result<i64, AppError> {
    parse_time("start_at", "start time", text, now, zone)
}

/// The install job for `patch_ids` on a server, each at its exact version;
/// every patch must be known there and in one of `states`.
#[cfg(feature = "ssr")]
async fn install_spec(
    tx: &mut patchport_db::Conn,
    server_id: i64,
    patch_ids: &[i64],
    // For an owner, the patches they may install
    // (`db::servers::owner_installable`); admins install any that is
    // missing, published or failed.
    owner_may: Option<&[i64]>,
) -> Result<patchport_core::protocol::JobSpec, AppError> {
    use patchport_core::protocol::{JobSpec, MAX_JOB_PACKAGES, PackageTarget};
    if patch_ids.is_empty() || patch_ids.len() > MAX_JOB_PACKAGES {
        return Err(AppError::invalid(
            "patch_ids",
            format!("choose 1 to {MAX_JOB_PACKAGES} patches to install"),
        ));
    }
    let open = patchport_db::servers::patch_rows(tx, server_id).await?;
    let mut packages = Vec::new();
    for id in patch_ids {
        let Some(p) = open.iter().find(|p| p.patch_id == *id) else {
            return Err(AppError::invalid(
                "patch_ids",
                format!("patch {id} is not known on this server"),
            ));
        };
        let allowed = match owner_may {
            None => p.installable(),
            Some(ids) => ids.contains(id),
        };
        if !allowed {
            return Err(AppError::invalid(
                "patch_ids",
                format!(
                    "{} {} is {} on this server: {}",
                    p.package,
                    p.version,
                    p.state,
                    if matches!(p.state.as_str(), "missing" | "failed") {
                        "it is not published for you to install"
                    } else {
                        "nothing to install"
                    }
                ),
            ));
        }
        packages.push(PackageTarget {
            name: p.package.clone(),
            version: p.version.clone(),
            arch: p.arch.clone(),
        });
    }
    packages.sort();
    packages.dedup();
    Ok(JobSpec::Install { packages })
}

/// Parses a `datetime-local` value in `field`, read in the user's `zone`;
/// empty is `now`; a time in the past, or one the clocks skip, is refused.
#[cfg(feature = "ssr")]
pub(crate) fn parse_time(
    field: &str,
    what: &str,
    text: &str,
    now: i64,
    zone: &str,
) -> Result<i64, AppError> {
    use patchport_core::clock::{LocalTimeError, parse_local};
    let text = text.trim();
    if text.is_empty() {
        return Ok(now);
    }
    let at = parse_local(text, zone).map_err(|e| match e {
        LocalTimeError::Malformed => {
            AppError::invalid(field, format!("{what} must look like 2026-11-21T22:00"))
        }
        other => AppError::invalid(field, format!("{what}: {other}")),
    })?;
    // A minute of slack for the time it took to fill in the form.
    if at < now - 60 {
        return Err(AppError::invalid(
            field,
            format!("{what} is in the past (times are {zone})"),
        ));
    }
    Ok(at.max(now))
}

/// Queues a job on a server: `install` (the chosen patches, each at its
/// exact version), `reboot` or `refresh`, starting at `start_at` (UTC,
/// empty for now) and expiring if the agent has not started it within
/// `window_hours`.
#[server(endpoint = "admin/jobs/queue", input = server_fn::codec::Json)]
pub async fn queue_job(
    server_id: i64,
    kind: String,
    patch_ids: Vec<i64>,
    start_at: String,
    window_hours: i64,
) -> Result<i64, AppError> {
    use crate::ssr;
    use patchport_core::protocol::JobSpec;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !(1..=MAX_WINDOW_HOURS).contains(&window_hours) {
            return Err(AppError::invalid(
                "window_hours",
                format!("the start window must be 1 to {MAX_WINDOW_HOURS} hours"),
            ));
        }
        let not_before = parse_start(&start_at, w.now, &w.me.zone)?;
        let server = patchport_db::servers::get(&mut w.tx, server_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let spec = match kind.as_str() {
            "install" => install_spec(&mut w.tx, server_id, &patch_ids, None).await?,
            "reboot" => JobSpec::Reboot,
            "refresh" => JobSpec::Refresh,
            _ => {
                return Err(AppError::invalid(
                    "kind",
                    "job must be install, reboot or refresh",
                ));
            }
        };
        spec.validate()
            .map_err(|e| AppError::invalid("patch_ids", e.to_string()))?;
        let job = patchport_db::jobs::NewJob {
            server_id,
            spec: &spec,
            not_before,
            not_after: not_before + window_hours * 3600,
            created_by: Some(w.me.id),
        };
        let id = patchport_db::jobs::create(&mut w.tx, &job, w.now).await?;
        let detail = match &spec {
            JobSpec::Install { packages } => format!(
                "job {id}: install {}",
                packages
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            other => format!(
                "job {id}: {} at {}",
                other.kind(),
                patchport_core::clock::format_utc(not_before)
            ),
        };
        w.commit("job.queued", &server.row.hostname, &detail)
            .await?;
        Ok(id)
    })
    .await
}

/// An install queued through [`install_patches`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallQueued {
    /// The job.
    pub job_id: i64,
    /// It may start from…
    pub starts_at: i64,
    /// …until (it expires if the agent has not started it).
    pub until: i64,
}

/// How long an install started "now" or "at" a time may wait for the agent.
pub const INSTALL_START_HOURS: i64 = 4;

/// Installs patches on a server: its owner those published for it (again
/// when their install failed), admins any that are missing, published or
/// failed. `when` is `now`, `window`
/// (the server's next maintenance window, open until it closes) or `at`
/// (`at`, UTC, `YYYY-MM-DDTHH:MM`).
#[server(endpoint = "servers/install", input = server_fn::codec::Json)]
pub async fn install_patches(
    server_id: i64,
    patch_ids: Vec<i64>,
    when: String,
    at: String,
) -> Result<InstallQueued, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let admin = me.role == patchport_core::Role::Admin;
        let mut tx = state.db.begin().await?;
        let host = crate::servers::check_visible(&mut tx, &me, server_id).await?;
        let (starts_at, until) = match when.as_str() {
            "now" => (now, now + INSTALL_START_HOURS * 3600),
            "at" => {
                let at = parse_time("at", "the install time", &at, now, &me.zone)?;
                (at, at + INSTALL_START_HOURS * 3600)
            }
            "window" => {
                let next = patchport_db::windows::next_for_server(&mut tx, server_id, now)
                    .await?
                    .ok_or_else(|| {
                        AppError::invalid(
                            "when",
                            "this server has no maintenance window: install now or at a time",
                        )
                    })?;
                (next.start.max(now), next.end)
            }
            _ => {
                return Err(AppError::invalid("when", "when must be now, window or at"));
            }
        };
        let owner_may = if admin {
            None
        } else {
            Some(patchport_db::servers::owner_installable(&mut tx, server_id).await?)
        };
        let spec = install_spec(&mut tx, server_id, &patch_ids, owner_may.as_deref()).await?;
        spec.validate()
            .map_err(|e| AppError::invalid("patch_ids", e.to_string()))?;
        let job = patchport_db::jobs::NewJob {
            server_id,
            spec: &spec,
            not_before: starts_at,
            not_after: until,
            created_by: Some(me.id),
        };
        let job_id = patchport_db::jobs::create(&mut tx, &job, now).await?;
        ssr::audit(
            &mut tx,
            Some(&me),
            "job.queued",
            &host,
            &format!(
                "job {job_id}: install {} patch(es) from {}",
                patch_ids.len(),
                patchport_core::clock::format_utc(starts_at)
            ),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        Ok(InstallQueued {
            job_id,
            starts_at,
            until,
        })
    })
    .await
}

/// Cancels a job that has not started yet.
#[server(endpoint = "admin/jobs/cancel")]
pub async fn cancel_job(job_id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let job = patchport_db::jobs::get(&mut w.tx, job_id)
            .await?
            .ok_or(AppError::NotFound)?;
        if !patchport_db::jobs::cancel(&mut w.tx, job_id, w.now).await? {
            return Err(AppError::Conflict(format!(
                "job {job_id} is {} and can no longer be cancelled",
                job.state
            )));
        }
        // A cancelled reboot may be a booking its owner was told of: the
        // owner hears where the booking ended, as when they cancel it.
        if matches!(job.spec, patchport_core::protocol::JobSpec::Reboot) {
            patchport_db::mail::booking_changed(&mut w.tx, job.server_id, w.now, false).await?;
        }
        let host = ssr::host_name(&mut w.tx, job.server_id).await;
        w.commit("job.cancelled", &host, &format!("job {job_id}"))
            .await?;
        Ok(())
    })
    .await
}

/// Rolls install job `job_id` back to the versions its server had before
/// it: admins, and the server's owner when admins allow it (403
/// otherwise; another owner's server is not found). Refused (409, nothing
/// queued) with why when there is nothing to roll back.
#[server(endpoint = "servers/jobs/rollback")]
pub async fn roll_back_job(job_id: i64) -> Result<String, AppError> {
    use crate::ssr;
    use patchport_db::rollouts::{self, Actor};
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        let job = patchport_db::jobs::get(&mut tx, job_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let host = crate::servers::check_visible(&mut tx, &me, job.server_id).await?;
        if me.role != patchport_core::Role::Admin
            && !rollouts::owners_may_roll_back(&mut tx).await?
        {
            return Err(AppError::Forbidden);
        }
        let actor = Actor::Person {
            id: me.id,
            name: &me.username,
        };
        let rollback = match rollouts::rollback_install(&mut tx, job_id, actor, now).await? {
            None => return Err(AppError::NotFound),
            Some(Err(why)) => return Err(AppError::Conflict(why.to_string())),
            Some(Ok(id)) => id,
        };
        ssr::audit(
            &mut tx,
            Some(&me),
            "job.rolled_back",
            &host,
            &format!("job {rollback}: rolls back job {job_id}"),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        crate::ui::back_to_page(Some("rollback"));
        Ok(format!("Rollback queued on {host}."))
    })
    .await
}

/// A server's jobs, newest first: admins, and the server's owner.
#[server(endpoint = "servers/jobs")]
pub async fn list_jobs(server_id: i64, page: i64) -> Result<JobPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        crate::servers::check_visible(&mut conn, &me, server_id).await?;
        let found = patchport_db::jobs::list(&mut conn, server_id, page, JOBS_PER_PAGE).await?;
        let active = found
            .items
            .iter()
            .any(|j| matches!(j.state.as_str(), "queued" | "running" | "rebooting"));
        let may_roll_back = me.role == patchport_core::Role::Admin
            || patchport_db::rollouts::owners_may_roll_back(&mut conn).await?;
        let mut items: Vec<JobView> = found.items.into_iter().map(job_view).collect();
        for j in items
            .iter_mut()
            .filter(|j| may_roll_back && j.kind == "install" && j.state == "succeeded")
        {
            let now = state.clock.now();
            let candidate = patchport_db::rollouts::install_candidate(&mut conn, j.id).await?;
            j.can_roll_back = candidate.is_some_and(|c| {
                !patchport_core::rollback::plan(std::slice::from_ref(&c), now)
                    .jobs
                    .is_empty()
            });
        }
        Ok(JobPage {
            total: found.total,
            active,
            items,
        })
    })
    .await
}

/// Reboot and refresh buttons, with an optional start time.
#[component]
pub fn JobButtons(server_id: i64, queue: ServerAction<QueueJob>) -> impl IntoView {
    let start_at = RwSignal::new(String::new());
    let window = RwSignal::new("24".to_owned());
    let confirming = RwSignal::new(false);
    let send = move |kind: &str| {
        queue.dispatch(QueueJob {
            server_id,
            kind: kind.to_owned(),
            patch_ids: Vec::new(),
            start_at: start_at.get_untracked(),
            window_hours: window.get_untracked().parse().unwrap_or(0),
        });
    };
    view! {
        <div class="toolbar" id="job-buttons">
            <label>{format!("Start ({}, empty = now) ", crate::ui::reader_zone())}
                <input type="datetime-local" name="start_at" aria-label="Start time"
                    prop:value=start_at on:input=move |ev| start_at.set(event_target_value(&ev)) />
            </label>
            <label>"Expires after (hours) "
                <input type="number" min="1" max=MAX_WINDOW_HOURS name="window_hours" class="narrow"
                    prop:value=window on:input=move |ev| window.set(event_target_value(&ev)) />
            </label>
            <button type="button" on:click=move |_| send("refresh")>"Refresh package lists"</button>
            <Show when=move || confirming.get() fallback=move || view! {
                <button type="button" on:click=move |_| confirming.set(true)>"Reboot…"</button>
            }>
                <span class="confirm" role="alertdialog">
                    {move || if start_at.get().is_empty() {
                        "Reboot this server now?".to_owned()
                    } else {
                        format!("Reboot this server at {} {}?", start_at.get().replace('T', " "), crate::ui::reader_zone())
                    }}
                    <button type="button" class="danger" on:click=move |_| { send("reboot"); confirming.set(false); }>"Reboot"</button>
                    <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </span>
            </Show>
        </div>
    }
}

/// The jobs card: every job with its state, timing and log. Refreshes
/// itself every few seconds while a job is queued or running.
#[component]
pub fn JobsCard(
    server_id: i64,
    admin: bool,
    queue: ServerAction<QueueJob>,
    cancel: ServerAction<CancelJob>,
    /// Bumped when a job changed state, so the page reloads patch states;
    /// the page bumps it when it queued a job, so the card reloads.
    changed: RwSignal<u64>,
) -> impl IntoView {
    let rollback = ServerAction::<RollBackJob>::new();
    let page = RwSignal::new(1_i64);
    let seen = RwSignal::new(None::<String>);
    let tick = RwSignal::new(0_u64);
    let active = RwSignal::new(false);
    let jobs = Resource::new(
        move || {
            (
                page.get(),
                tick.get(),
                queue.version().get(),
                cancel.version().get(),
                rollback.version().get(),
                // Also bumped by the page when it queued an install.
                changed.get(),
            )
        },
        move |(p, ..)| list_jobs(server_id, p),
    );
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if active.get_untracked() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(3),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <section class="card" id="jobs-card">
            <h2>"Jobs"</h2>
            {admin.then(|| view! { <JobButtons server_id queue /> })}
            <FormError action=queue />
            <FormError action=cancel />
            <FormError action=rollback />
            {move || rollback.value().get().and_then(Result::ok).map(|msg| view! { <p class="ok" role="status" id="rollback-queued">{msg}</p> })}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { let found = jobs.await;
                    if let Ok(p) = &found {
                        active.set(p.active);
                        let states: String = p.items.iter().map(|j| format!("{}:{};", j.id, j.state)).collect();
                        if seen.get_untracked().is_some_and(|s| s != states) {
                            changed.update(|c| *c += 1);
                        }
                        seen.set(Some(states));
                    }
                    match found {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! {
                        <p class="empty">{if admin {
                            "No jobs yet. Select missing patches above and install them, or reboot or refresh the server."
                        } else {
                            "No jobs have run on this server yet."
                        }}</p>
                    }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=JOBS_PER_PAGE total=p.total />
                        <div class="table-scroll"><table class="data" id="jobs">
                            <thead><tr><th>"#"</th><th>"Job"</th><th>"State"</th><th>"Start"</th><th>"Ended"</th><th>"By"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|j| {
                                    let id = j.id;
                                    let queued = j.state == "queued";
                                    let what = if j.packages.is_empty() { j.kind.clone() } else { format!("{}: {}", j.kind, j.packages.join(", ")) };
                                    let timing = format!("{} (expires {})", crate::ui::when(j.not_before), crate::ui::when(j.not_after));
                                    let has_log = !j.log.is_empty();
                                    view! {
                                        <tr data-job=id data-state=j.state.clone()>
                                            <td>{id}</td>
                                            <td>{what}</td>
                                            <td>
                                                <span class=format!("badge job-{}", j.state)>{j.state.clone()}</span>
                                                {(j.attempt > 1).then(|| format!(" · attempt {}", j.attempt))}
                                                {j.exit_code.map(|c| format!(" · exit {c}"))}
                                                {(!j.reason.is_empty()).then(|| view! { <br/><small>{j.reason.clone()}</small> })}
                                            </td>
                                            <td class="nowrap"><small>{timing}</small></td>
                                            <td class="nowrap"><small>{j.finished_at.map(crate::ui::when).unwrap_or_default()}</small></td>
                                            <td>{j.created_by.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>{(admin && queued).then(|| view! {
                                                <ActionForm action=cancel attr:class="inline">
                                                    <input type="hidden" name="job_id" value=id.to_string() />
                                                    <button type="submit" class="small">"Cancel"</button>
                                                </ActionForm>
                                            })}
                                            {j.can_roll_back.then(|| view! {
                                                <crate::ui::Confirm question=format!("Roll {} back to the versions this server had before job {id}?", j.packages.join(", ")) step=format!("rollback-job-{id}") label="Roll back…".to_owned()>
                                                    <ActionForm action=rollback attr:class="inline">
                                                        <input type="hidden" name="job_id" value=id.to_string() />
                                                        <button type="submit" class="danger">"Roll back"</button>
                                                    </ActionForm>
                                                </crate::ui::Confirm>
                                            })}</td>
                                        </tr>
                                        {has_log.then(|| view! {
                                            <tr class="log-row"><td></td><td colspan="6">
                                                <details><summary>"Log"</summary><pre class="log">{j.log.clone()}</pre></details>
                                            </td></tr>
                                        })}
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}
