//! `/rollouts`: every rollout, searched (package, advisory or CVE),
//! filtered (state, least severity, known exploited) and ordered (last
//! change, or worst first and then oldest) by the address's query, so a
//! link, a reload or Back shows the same. Ticked rows are approved,
//! declined or retested together after a question that names them, with
//! or without JavaScript; the outcome of each is shown above the rows.

use super::decisions::{BulkDecided, DecideRollouts, DecisionResults, decided_rollouts};
use super::{RolloutView, state_badge};
use crate::errors::AppError;
use crate::ui::{FormError, Time};
use leptos::prelude::*;
use patchport_core::rollout::{Decision, RolloutState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A page of rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPage {
    /// Rollouts.
    pub items: Vec<RolloutView>,
    /// In all.
    pub total: i64,
}

/// Rollouts per page.
pub const ROLLOUTS_PER_PAGE: i64 = 50;

/// Rollouts, latest change first; `state` "" for all.
#[server(endpoint = "admin/rollouts/list")]
pub async fn list_rollouts(state: String, page: i64) -> Result<RolloutPage, AppError> {
    search_rollouts(
        RolloutFilter {
            state,
            ..RolloutFilter::default()
        },
        page,
    )
    .await
}

/// The list's search, filters and order, as its address holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutFilter {
    /// Text in the package name, or in the id of an advisory or CVE the
    /// patch fixes.
    pub search: String,
    /// Only this state (its stored name, e.g. `observing`).
    pub state: String,
    /// At least this severity: critical, high, medium, low, or empty.
    pub severity: String,
    /// Only patches fixing a known-exploited CVE.
    pub known_exploited: bool,
    /// Empty (last change first) or `severity` (worst first, then the one
    /// waiting longest).
    pub sort: String,
}

impl RolloutFilter {
    /// The query string (without `?`) of this filter on `page`: only what
    /// differs from the default, in a fixed order, so equal filters give
    /// equal addresses.
    pub fn to_query(&self, page: i64) -> String {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let pairs: Vec<(&str, String)> = [
            ("search", text(&self.search)),
            ("state", text(&self.state)),
            ("severity", text(&self.severity)),
            (
                "known_exploited",
                self.known_exploited.then(|| "true".into()),
            ),
            ("sort", text(&self.sort)),
            ("page", (page > 1).then(|| page.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The filter and page a query string names (with or without `?`), as
    /// [`Self::to_query`] writes it or the filter form sends it without
    /// JavaScript (empty fields, `on` for a ticked box). Read leniently:
    /// unknown keys are ignored, the page is at least 1; values the
    /// search refuses stay, so the page can say what is wrong.
    pub fn from_query(query: &str) -> (Self, i64) {
        let q = crate::ui::QueryPairs::parse(query);
        let get = |key: &str| q.get(key).to_owned();
        let filter = RolloutFilter {
            search: get("search"),
            state: get("state"),
            severity: get("severity"),
            known_exploited: q.flag("known_exploited"),
            sort: get("sort"),
        };
        let page = q.number("page").unwrap_or(1).max(1);
        (filter, page)
    }

    /// The list's address for this filter on `page`.
    pub fn href(&self, page: i64) -> String {
        match self.to_query(page) {
            q if q.is_empty() => "/rollouts".to_owned(),
            q => format!("/rollouts?{q}"),
        }
    }

    /// Nothing is filtered and the order is the default one.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The list's address after a bulk decision sent without JavaScript: the
/// list as `back` (its query) named it, then the decision, the rollouts
/// that went through (`ok`) and those refused (`no`), which
/// [`decided_rollouts`] reads back.
#[cfg(feature = "ssr")]
pub(super) fn decided_href(
    back: &str,
    decision: Decision,
    done: &[patchport_core::view::rollouts::Decided],
) -> String {
    use patchport_core::view::rollouts::Outcome;
    let (filter, page) = RolloutFilter::from_query(back);
    let ids = |refused: bool| {
        done.iter()
            .filter(|d| matches!(d.outcome, Outcome::Refused(_)) == refused)
            .map(|d| d.rollout_id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let told = serde_urlencoded::to_string([
        ("decided", decision.as_str().to_owned()),
        ("ok", ids(false)),
        ("no", ids(true)),
    ])
    .unwrap_or_default();
    match filter.to_query(page) {
        q if q.is_empty() => format!("/rollouts?{told}"),
        q => format!("/rollouts?{q}&{told}"),
    }
}

/// What the address says beyond the filter, for the page without
/// JavaScript: a bulk decision being asked (`confirm`, the ticked `ids[]`)
/// or one made (`decided`, `ok`, `no`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Step {
    confirm: Option<Decision>,
    ids: Vec<i64>,
    decided: Option<(Decision, String, String)>,
}

impl Step {
    fn from_query(query: &str) -> Self {
        let q = crate::ui::QueryPairs::parse(query);
        let get = |key: &str| q.get(key).to_owned();
        let mut ids: Vec<i64> =
            q.0.iter()
                .filter(|(k, _)| k == "ids[]")
                .filter_map(|(_, v)| v.parse().ok())
                .collect();
        ids.sort_unstable();
        ids.dedup();
        Step {
            confirm: Decision::parse(&get("confirm")),
            ids,
            decided: Decision::parse(&get("decided")).map(|d| (d, get("ok"), get("no"))),
        }
    }
}

/// Checks the list's filter and turns it into the storage query.
#[cfg(feature = "ssr")]
fn rollout_query(f: &RolloutFilter) -> Result<patchport_db::rollouts::RolloutQuery, AppError> {
    use patchport_db::rollouts::{RolloutQuery, RolloutSort};
    let state = match f.state.as_str() {
        "" => None,
        s => Some(
            RolloutState::parse(s)
                .ok_or_else(|| AppError::invalid("state", "unknown rollout state"))?,
        ),
    };
    let min_severity = match f.severity.as_str() {
        "" => 0,
        s @ ("critical" | "high" | "medium" | "low") => patchport_core::rollout::severity_rank(s),
        _ => {
            return Err(AppError::invalid(
                "severity",
                "severity must be critical, high, medium or low",
            ));
        }
    };
    let sort = match f.sort.as_str() {
        "" | "changed" => RolloutSort::Changed,
        "severity" => RolloutSort::Severity,
        s => return Err(AppError::invalid("sort", format!("cannot sort by '{s}'"))),
    };
    let search = f.search.trim();
    if search.chars().count() > 200 {
        return Err(AppError::invalid(
            "search",
            "search for at most 200 characters",
        ));
    }
    Ok(RolloutQuery {
        search: search.to_owned(),
        state,
        min_severity,
        known_exploited: f.known_exploited,
        sort,
    })
}

/// Rollouts as `filter` asks, one page of [`ROLLOUTS_PER_PAGE`].
#[server(endpoint = "admin/rollouts/search", input = server_fn::codec::Json)]
pub async fn search_rollouts(filter: RolloutFilter, page: i64) -> Result<RolloutPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let q = rollout_query(&filter)?;
        let app = ssr::state()?;
        let mut conn = app.db.read().await?;
        let p = patchport_db::rollouts::search(&mut conn, &q, page, ROLLOUTS_PER_PAGE).await?;
        Ok(RolloutPage {
            items: p.items.into_iter().map(super::rollout_view).collect(),
            total: p.total,
        })
    })
    .await
}

/// What the list shows: the filter and page asked for, with their rows,
/// so the table's links are built from its own filter while the next
/// one loads.
type Shown = (RolloutFilter, i64, Result<RolloutPage, AppError>);

/// The ticked rollouts, by id, with their names ("openssl 3.0.15-1";
/// empty when only the address named them).
type Selection = RwSignal<BTreeMap<i64, String>>;

/// `/rollouts`: the list, its filters, the outcome of the last bulk
/// decision and the bar that decides on the ticked rows.
#[component]
pub fn RolloutsPage() -> impl IntoView {
    let query = crate::ui::page_query("/rollouts");
    let place = Memo::new(move |_| query.with(|q| RolloutFilter::from_query(q)));
    let filter = Memo::new(move |_| place.with(|p| p.0.clone()));
    let step = Memo::new(move |_| query.with(|q| Step::from_query(q)));
    let first = step.get_untracked();
    // Live once hydrated (effects run in the browser only): until then the
    // page is laid out for working without JavaScript.
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    let bulk = ServerAction::<DecideRollouts>::new();
    let selected: Selection =
        RwSignal::new(first.ids.iter().map(|id| (*id, String::new())).collect());
    let confirming = RwSignal::new(first.confirm);
    // Decided in place: the selection is done with, the question closes.
    Effect::new(move |_| {
        if let Some(Ok(_)) = bulk.value().get() {
            selected.set(BTreeMap::new());
            confirming.set(None);
        }
    });
    let rows: Resource<Shown> = Resource::new(
        move || (place.get(), bulk.version().get()),
        |((f, p), _)| async move {
            let rows = search_rollouts(f.clone(), p).await;
            (f, p, rows)
        },
    );
    // After a bulk decision sent without JavaScript: read back from the
    // address.
    let told = Resource::new(
        move || step.with(|s| s.decided.clone()),
        |asked| async move {
            let (decision, ok, no) = asked?;
            Some(
                decided_rollouts(decision.as_str().to_owned(), ok, no)
                    .await
                    .map(|rollouts| BulkDecided { decision, rollouts }),
            )
        },
    );
    view! {
        <section class="card">
            <h1>"Rollouts"</h1>
            <p class="hint">"Each patch a policy covers goes new → testing → observing → approved, unless a test install fails or an admin declines it. Tick rollouts to approve, decline or retest them together. "
                <a href="/policies">"Policies"</a>" · "<a href="/windows">"Maintenance windows"</a>" · "<a href="/notifications">"Notifications"</a></p>
            <RolloutFilters filter live />
            <Transition fallback=|| ()>
                {move || {
                    let here = bulk.value().get();
                    Suspend::new(async move {
                        let shown = match here {
                            Some(Ok(done)) => Some(Ok(done)),
                            _ => told.await,
                        };
                        match shown {
                            Some(Ok(done)) => view! { <DecisionResults decision=done.decision results=done.rollouts /> }.into_any(),
                            Some(Err(e)) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                            None => ().into_any(),
                        }
                    })
                }}
            </Transition>
            <div id="rollout-rows">
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let (shown, page, rows) = rows.await;
                        match rows {
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                            Ok(p) if p.items.is_empty() => empty_list(&shown, page, p.total),
                            Ok(p) => view! {
                                <PageLinks filter=shown.clone() page total=p.total />
                                <RolloutRows filter=shown rows=p.items selected />
                            }.into_any(),
                        }
                    })}
                </Transition>
            </div>
            <BulkBar selected confirming live place bulk rows />
        </section>
    }
}

/// What an empty list says: past the last page, nothing yet, or nothing
/// matching the filter.
fn empty_list(filter: &RolloutFilter, page: i64, total: i64) -> AnyView {
    if total > 0 {
        view! { <p class="empty">{format!("Page {page} is past the last one. ")}<a href=filter.href(1)>"Go to the first page"</a></p> }.into_any()
    } else if filter.is_default() {
        view! { <p class="empty">"No rollouts yet. A patch comes here when a policy covers it and a server misses it: see the "<a href="/policies">"policies"</a>"."</p> }.into_any()
    } else {
        view! { <p class="empty" id="no-match">"No rollout matches these filters. "<a href="/rollouts">"Show all rollouts"</a></p> }.into_any()
    }
}

/// The filters: a GET form to `/rollouts`, so they work without
/// JavaScript (its Apply button); with it, each change replaces the
/// address (no history entry per keystroke) and the rows follow.
#[component]
fn RolloutFilters(filter: Memo<RolloutFilter>, live: RwSignal<bool>) -> impl IntoView {
    let go = crate::ui::replace_filter(|f: &RolloutFilter| f.href(1));
    let set = {
        let go = go.clone();
        move |change: fn(&mut RolloutFilter, String)| {
            crate::ui::on_filter_value(filter, go.clone(), change)
        }
    };
    let text = move |get: fn(&RolloutFilter) -> String| move || filter.with(get);
    let is = move |get: fn(&RolloutFilter) -> &str, v: &'static str| {
        move || filter.with(|f| get(f) == v)
    };
    let kev = move || filter.with(|f| f.known_exploited);
    view! {
        <form method="get" action="/rollouts" class="toolbar filters" id="rollout-filters" on:submit=|ev| ev.prevent_default()>
            <input type="search" name="search" placeholder="Package, advisory or CVE" aria-label="Search package, advisory or CVE"
                value=text(|f| f.search.clone()) prop:value=text(|f| f.search.clone()) on:input=set(|f, v| f.search = v) />
            <select name="state" aria-label="State" prop:value=text(|f| f.state.clone()) on:change=set(|f, v| f.state = v)>
                <option value="" selected=is(|f| &f.state, "")>"Any state"</option>
                {RolloutState::ALL.into_iter().map(|s| view! {
                    <option value=s.as_str() selected=move || filter.with(|f| f.state == s.as_str())>{s.label()}</option>
                }).collect_view()}
            </select>
            <select name="severity" aria-label="Severity" prop:value=text(|f| f.severity.clone()) on:change=set(|f, v| f.severity = v)>
                {[("", "Any severity"), ("critical", "critical"), ("high", "high or worse"), ("medium", "medium or worse"), ("low", "low or worse")]
                    .into_iter().map(|(v, l)| view! { <option value=v selected=is(|f| &f.severity, v)>{l}</option> }).collect_view()}
            </select>
            <label class="check"><input type="checkbox" name="known_exploited" value="true" checked=kev prop:checked=kev
                on:change=crate::ui::on_filter_checked(filter, go.clone(), |f, on| f.known_exploited = on) />" known exploited only"</label>
            <select name="sort" aria-label="Order" prop:value=text(|f| f.sort.clone()) on:change=set(|f, v| f.sort = v)>
                {[("", "Last change first"), ("severity", "Worst first, then oldest")]
                    .into_iter().map(|(v, l)| view! { <option value=v selected=is(|f| &f.sort, v)>{l}</option> }).collect_view()}
            </select>
            // Needed without JavaScript only; kept in place (invisible) once
            // live, so nothing moves.
            <a href="/rollouts" id="clear-filters" hidden=move || filter.with(RolloutFilter::is_default)>"Clear filters"</a>
            <button type="submit" id="apply-rollout-filters" class:live=move || live.get()>"Apply filters"</button>
        </form>
    }
}

/// Previous / next page: links, so each page is its own address.
#[component]
fn PageLinks(filter: RolloutFilter, page: i64, total: i64) -> impl IntoView {
    let pages = ((total + ROLLOUTS_PER_PAGE - 1) / ROLLOUTS_PER_PAGE).max(1);
    let link = move |to: i64, label: &'static str, rel: &'static str| {
        if (1..=pages).contains(&to) && to != page {
            view! { <a href=filter.href(to) rel=rel data-noscroll="">{label}</a> }.into_any()
        } else {
            view! { <span class="muted">{label}</span> }.into_any()
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {link(page - 1, "‹ Previous", "prev")}
            <span id="rollouts-page">{format!("Page {page} of {pages} · {total} in all")}</span>
            {link(page + 1, "Next ›", "next")}
        </nav>
    }
}

/// A column heading that orders the list by `sort` (both orders put the
/// most pressing first).
fn sort_header(
    shown: &RolloutFilter,
    label: &'static str,
    sort: &'static str,
) -> impl IntoView + use<> {
    let mut next = shown.clone();
    next.sort = sort.to_owned();
    let active = shown.sort == sort || (sort.is_empty() && shown.sort == "changed");
    view! {
        <th aria-sort=active.then_some("descending")>
            <a class="sort" data-sort=if sort.is_empty() { "changed" } else { sort } data-noscroll="" href=next.href(1)>
                {label}{if active { " ▼" } else { "" }}
            </a>
        </th>
    }
}

/// The rows, each with its box for the bulk bar (`form="bulk-step"`: the
/// step form sends the ticked ones without JavaScript).
#[component]
fn RolloutRows(
    filter: RolloutFilter,
    rows: Vec<RolloutView>,
    selected: Selection,
) -> impl IntoView {
    let names: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (r.id, format!("{} {}", r.package, r.version)))
        .collect();
    let all_on_page = {
        let names = names.clone();
        move || selected.with(|s| names.iter().all(|(id, _)| s.contains_key(id)))
    };
    // Ticked when the address named it (the question without JavaScript).
    let first = selected.get_untracked();
    view! {
        <div class="table-scroll"><table class="data" id="rollouts">
            <thead><tr>
                <th><input type="checkbox" aria-label="Select all on this page" prop:checked=all_on_page
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        selected.update(|s| for (id, name) in &names {
                            if on { s.insert(*id, name.clone()); } else { s.remove(id); }
                        });
                    } /></th>
                <th>"Patch"</th>
                {sort_header(&filter, "Severity", "severity")}
                <th>"State"</th>
                <th>"Policy"</th>
                <th>"Servers"</th>
                <th>"Observed until"</th>
                <th>"Since"</th>
                {sort_header(&filter, "Changed", "")}
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let id = r.id;
                    let name = format!("{} {}", r.package, r.version);
                    let label = format!("Select {name}");
                    view! {
                        <tr data-rollout=id.to_string() data-package=r.package.clone() data-state=r.state.as_str()>
                            <td><input type="checkbox" name="ids[]" value=id.to_string() form="bulk-step" aria-label=label
                                checked=first.contains_key(&id) prop:checked=move || selected.with(|s| s.contains_key(&id))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    selected.update(|s| { if on { s.insert(id, name.clone()); } else { s.remove(&id); } });
                                } /></td>
                            <td><a href=format!("/rollouts/{id}")>{format!("{} {}", r.package, r.version)}</a><small>{format!(" {}", r.release)}</small></td>
                            <td>{(!r.severity.is_empty()).then(|| view! { <span class=format!("badge sev-{}", r.severity)>{r.severity.clone()}</span> })}
                                {r.known_exploited.then(|| view! { " " <span class="badge kev">"known exploited"</span> })}</td>
                            <td>{state_badge(r.state)}</td>
                            <td>{r.policy.clone()}</td>
                            <td>{r.servers}</td>
                            <td class="nowrap"><small>{r.observe_until.map(crate::ui::when).unwrap_or_default()}</small></td>
                            <td class="nowrap"><small><Time ts=r.created_at /></small></td>
                            <td class="nowrap"><small><Time ts=r.updated_at /></small></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

/// The ticked rollouts and what to do with them. Live, a bar stuck to the
/// bottom of the window, shown once a row is ticked; without JavaScript,
/// a plain form under the table whose buttons reload the page with the
/// question open (`?confirm=<decision>&ids[]=…`).
#[component]
fn BulkBar(
    selected: Selection,
    confirming: RwSignal<Option<Decision>>,
    live: RwSignal<bool>,
    place: Memo<(RolloutFilter, i64)>,
    bulk: ServerAction<DecideRollouts>,
    rows: Resource<Shown>,
) -> impl IntoView {
    let count = move || selected.with(|s| s.len());
    view! {
        <div id="bulk-bar" class="selection-bar" class:live=move || live.get()
            hidden=move || live.get() && count() == 0 && confirming.with(Option::is_none)>
            <p id="bulk-selection" class="muted" hidden=move || count() == 0>
                {move || match count() { 1 => "1 rollout selected ".to_owned(), n => format!("{n} rollouts selected ") }}
                <button type="button" class="link" on:click=move |_| selected.set(BTreeMap::new())>"Clear"</button>
            </p>
            <Show when=move || confirming.with(Option::is_none)
                fallback=move || confirming.get().map(|decision| view! { <BulkQuestion decision selected confirming place bulk rows /> })>
                <form method="get" action="/rollouts" class="inline" id="bulk-step">
                    <KeepPlace place />
                    <span>"With the ticked rollouts: "</span>
                    {Decision::ALL.into_iter().map(|d| view! {
                        <button type="submit" name="confirm" value=d.as_str() class=if d == Decision::Approve { "primary" } else { "" }
                            disabled=move || live.get() && count() == 0
                            on:click=move |ev| { ev.prevent_default(); confirming.set(Some(d)); }>{verb(d)}"…"</button>
                    }).collect_view()}
                </form>
            </Show>
            <FormError action=bulk />
        </div>
    }
}

/// The list's filter and page as hidden fields, for the GET forms that
/// reload it (the step, Cancel).
#[component]
fn KeepPlace(place: Memo<(RolloutFilter, i64)>) -> impl IntoView {
    move || {
        let kept = place.with(|(f, p)| crate::ui::QueryPairs::parse(&f.to_query(*p)).0);
        kept.into_iter()
            .map(|(k, v)| view! { <input type="hidden" name=k value=v /> })
            .collect_view()
    }
}

/// A decision's verb on a button.
fn verb(d: Decision) -> &'static str {
    match d {
        Decision::Approve => "Approve",
        Decision::Decline => "Decline",
        Decision::Retest => "Retest",
    }
}

/// "1 rollout" or "n rollouts".
fn rollouts(n: usize) -> String {
    if n == 1 {
        "1 rollout".to_owned()
    } else {
        format!("{n} rollouts")
    }
}

/// The question before a bulk decision: how many and which, what the
/// decision does, the reason (required to decline), then Yes or Cancel.
#[component]
fn BulkQuestion(
    decision: Decision,
    selected: Selection,
    confirming: RwSignal<Option<Decision>>,
    place: Memo<(RolloutFilter, i64)>,
    bulk: ServerAction<DecideRollouts>,
    rows: Resource<Shown>,
) -> impl IntoView {
    let count = move || selected.with(|s| s.len());
    let what = match decision {
        Decision::Approve => {
            "Each is approved as its policy says: published to the self-service portal for critical servers, deployed to standard servers in their next maintenance window. One that can no longer be approved stays as it is, and the outcome says why."
        }
        Decision::Decline => {
            "Nothing of them is published or deployed any more: publications are withdrawn, queued installs cancelled. The reason goes into each one's history."
        }
        Decision::Retest => {
            "Each is installed on the test group again. Only new rollouts and those whose test failed can be; the others stay as they are, and the outcome says why."
        }
    };
    let back = move || place.with(|(f, p)| f.to_query(*p));
    let decline = decision == Decision::Decline;
    view! {
        <div class="bulk-question" role="alertdialog" aria-labelledby="bulk-question" id="bulk-confirm">
            <p id="bulk-question"><strong>{move || match count() {
                0 => "No rollout is ticked: tick the ones to decide first.".to_owned(),
                n => format!("{} {}?", verb(decision), if n == 1 { "this rollout".to_owned() } else { format!("these {n} rollouts") }),
            }}</strong></p>
            // Their names: from the rows as they were ticked, or (the
            // question opened from the address) from the rows shown.
            <Transition fallback=|| ()>
                {move || {
                    let ticked = selected.get();
                    Suspend::new(async move {
                        let (_, _, shown) = rows.await;
                        let known: BTreeMap<i64, String> = shown
                            .map(|p| p.items.into_iter().map(|r| (r.id, format!("{} {}", r.package, r.version))).collect())
                            .unwrap_or_default();
                        view! {
                            // Scrolls when long: reachable by keyboard.
                            <ul id="bulk-names" tabindex="0" aria-label="The ticked rollouts">
                                {ticked.into_iter().map(|(id, name)| {
                                    let name = if name.is_empty() {
                                        known.get(&id).cloned().unwrap_or_else(|| format!("rollout #{id}"))
                                    } else {
                                        name
                                    };
                                    view! { <li data-rollout=id.to_string()>{name}</li> }
                                }).collect_view()}
                            </ul>
                        }
                    })
                }}
            </Transition>
            <p class="hint">{what}</p>
            <div class="bulk-answer">
            <ActionForm action=bulk attr:id="bulk-form">
                {move || selected.with(|s| s.keys().map(|id| view! {
                    <input type="hidden" name="ids[]" value=id.to_string() />
                }).collect_view())}
                <input type="hidden" name="decision" value=decision.as_str() />
                <input type="hidden" name="back" value=back prop:value=back />
                {if decision == Decision::Retest {
                    view! { <input type="hidden" name="reason" value="" /> }.into_any()
                } else {
                    view! {
                        <label>{if decline { "Reason (required) " } else { "Reason (optional) " }}
                            <input type="text" name="reason" maxlength="1000" required=decline
                                placeholder=if decline { "Why they are declined" } else { "Why now" } /></label>
                    }.into_any()
                }}
                <button type="submit" class=if decline { "danger" } else { "primary" }
                    disabled=move || count() == 0 || bulk.pending().get()>
                    {move || format!("Yes, {} {}", verb(decision).to_lowercase(), rollouts(count()))}
                </button>
            </ActionForm>
            <form method="get" action="/rollouts" class="inline">
                <KeepPlace place />
                <button type="submit" on:click=move |ev| { ev.prevent_default(); confirming.set(None); }>"Cancel"</button>
            </form>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{RolloutFilter, Step};
    use patchport_core::rollout::Decision;

    fn filter() -> RolloutFilter {
        RolloutFilter {
            search: "open ssl&x=1 é".into(),
            state: "observing".into(),
            severity: "high".into(),
            known_exploited: true,
            sort: "severity".into(),
        }
    }

    #[test]
    fn a_filter_survives_its_query() {
        for (f, page) in [(RolloutFilter::default(), 1), (filter(), 1), (filter(), 4)] {
            let query = f.to_query(page);
            assert_eq!(
                RolloutFilter::from_query(&query),
                (f.clone(), page),
                "{query}"
            );
            assert_eq!(
                RolloutFilter::from_query(&format!("?{query}")),
                (f, page),
                "with ?"
            );
        }
        assert_eq!(RolloutFilter::default().href(1), "/rollouts");
        assert_eq!(
            RolloutFilter {
                state: "observing".into(),
                ..Default::default()
            }
            .href(2),
            "/rollouts?state=observing&page=2",
            "the home page's links stay valid"
        );
    }

    #[test]
    fn the_plain_forms_read_leniently() {
        let (f, page) = RolloutFilter::from_query(
            "search=&state=&severity=critical&known_exploited=on&sort=&page=x&confirm=approve",
        );
        assert_eq!(
            f,
            RolloutFilter {
                severity: "critical".into(),
                known_exploited: true,
                ..Default::default()
            }
        );
        assert_eq!(page, 1);
        let step = Step::from_query(
            "state=new&confirm=decline&ids%5B%5D=7&ids%5B%5D=3&ids%5B%5D=x&ids%5B%5D=7",
        );
        assert_eq!(step.confirm, Some(Decision::Decline));
        assert_eq!(step.ids, vec![3, 7], "numbers only, once each");
        assert_eq!(Step::from_query("confirm=wipe").confirm, None);
        let told = Step::from_query("decided=approve&ok=1%2C2&no=3");
        assert_eq!(
            told.decided,
            Some((Decision::Approve, "1,2".into(), "3".into()))
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn after_a_plain_post_the_list_keeps_its_place_and_names_the_outcome() {
        use patchport_core::view::rollouts::{Decided, Outcome};
        let d = |id, outcome| Decided {
            rollout_id: id,
            package: "p".into(),
            version: "1".into(),
            outcome,
        };
        let done = [
            d(1, Outcome::Declined),
            d(2, Outcome::Refused("no".into())),
            d(3, Outcome::Declined),
        ];
        assert_eq!(
            super::decided_href("state=new&evil=1&page=2", Decision::Decline, &done),
            "/rollouts?state=new&page=2&decided=decline&ok=1%2C3&no=2"
        );
        assert_eq!(
            super::decided_href("", Decision::Decline, &done[..1]),
            "/rollouts?decided=decline&ok=1&no="
        );
    }
}
