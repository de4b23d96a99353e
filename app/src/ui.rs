//! Small building blocks shared by the pages.

use crate::errors::AppError;
use leptos::prelude::*;
use server_fn::ServerFn;

/// Shows the error of a server action's last run, if it failed.
#[component]
pub fn FormError<S>(action: ServerAction<S>) -> impl IntoView
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
    }
}

/// Previous / next paging for a list of `total` rows, rendered inside the
/// `Transition` that loads the list.
///
/// House rule for async views: read resources only by awaiting them inside
/// `Suspend::new` within a `Transition`/`Suspense`, never with `.get()`.
/// Several boundaries calling `.get()` on shared resources deadlock Leptos
/// 0.8's server rendering under concurrent requests (leptos-rs/leptos#4578,
/// #4673); `scripts/stress-pages.sh` checks for it in the end-to-end run.
#[component]
pub fn Pager(page: RwSignal<i64>, per_page: i64, total: i64) -> impl IntoView {
    let pages = move || ((total + per_page - 1) / per_page).max(1);
    view! {
        <nav class="pager" aria-label="Pages">
            <button type="button" disabled=move || { page.get() <= 1 } on:click=move |_| page.update(|p| *p -= 1)>
                "‹ Previous"
            </button>
            <span>{move || format!("Page {} of {} · {} in all", page.get(), pages(), total)}</span>
            <button type="button" disabled=move || { page.get() >= pages() } on:click=move |_| page.update(|p| *p += 1)>
                "Next ›"
            </button>
        </nav>
    }
}

/// The zone the signed-in reader sees and types times in (UTC where no
/// user is in context, e.g. outside a signed-in page).
pub fn reader_zone() -> String {
    use_context::<crate::accounts::UserView>()
        .map(|u| u.zone)
        .unwrap_or_else(|| patchport_core::clock::DEFAULT_ZONE.to_owned())
}

/// A time as text in the reader's zone, the zone named
/// (`2027-03-29 21:30 CEST`), for sentences; see [`Time`] for a table cell.
pub fn when(ts: i64) -> String {
    patchport_core::clock::format_in(ts, &reader_zone())
}

/// A time in the reader's zone, the zone named; the UTC time in the
/// tooltip and the machine-readable `datetime`.
#[component]
pub fn Time(ts: i64) -> impl IntoView {
    let utc = patchport_core::clock::format_utc(ts);
    let iso = patchport_core::clock::iso_utc(ts);
    view! { <time datetime=iso title=utc>{when(ts)}</time> }
}

/// A query string's pairs (with or without `?`), read leniently: a
/// malformed query is empty, a key given twice counts as its last value.
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// Parses `query`.
    pub fn parse(query: &str) -> Self {
        Self(
            serde_urlencoded::from_str(query.strip_prefix('?').unwrap_or(query))
                .unwrap_or_default(),
        )
    }

    /// The last value of `key`, or "".
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `key` is ticked: `true`, `on` (a form's check box) or `1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), "true" | "on" | "1")
    }

    /// `key` as a whole number, if it is one.
    pub fn number(&self, key: &str) -> Option<i64> {
        self.get(key).trim().parse().ok()
    }
}

/// The query of the address while it is `path`'s page: leaving for another
/// page (a rollout, a patch) keeps the last one, so nothing is fetched for
/// the next page's query while it loads.
pub fn page_query(path: &'static str) -> Memo<String> {
    let location = leptos_router::hooks::use_location();
    Memo::new(move |prev: Option<&String>| match prev {
        Some(prev) if location.pathname.with(|p| p != path) => prev.clone(),
        _ => location.search.get(),
    })
}

/// Filters kept in the address: goes to `href` of a changed filter,
/// replacing the address (no history entry per keystroke or choice) and
/// keeping the scroll, so Back and reloading show the same rows.
pub fn replace_filter<F: 'static>(href: fn(&F) -> String) -> impl Fn(F) + Clone + 'static {
    let navigate = leptos_router::hooks::use_navigate();
    move |f: F| {
        navigate(
            &href(&f),
            leptos_router::NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        )
    }
}

/// The input or change handler of a filter field: `change` puts the field's
/// value into a copy of the filter, which `go` shows.
pub fn on_filter_value<F: Clone + Send + Sync + 'static>(
    filter: Memo<F>,
    go: impl Fn(F) + Clone + 'static,
    change: fn(&mut F, String),
) -> impl Fn(leptos::ev::Event) + Clone + 'static {
    move |ev| {
        let mut f = filter.get_untracked();
        change(&mut f, event_target_value(&ev));
        go(f);
    }
}

/// The change handler of a filter's check box, as [`on_filter_value`].
pub fn on_filter_checked<F: Clone + Send + Sync + 'static>(
    filter: Memo<F>,
    go: impl Fn(F) + Clone + 'static,
    change: fn(&mut F, bool),
) -> impl Fn(leptos::ev::Event) + Clone + 'static {
    move |ev| {
        let mut f = filter.get_untracked();
        change(&mut f, event_target_checked(&ev));
        go(f);
    }
}

/// The query key naming the confirmation a page shows open
/// (`?confirm=delete-window-3`): without JavaScript, a confirmed action is
/// two steps, a GET that reloads the page with its question open, then the
/// form post that acts.
pub const CONFIRM: &str = "confirm";

/// The query key a page reads after a plain form post went through
/// (`?done=password-reset`), to say so where the page itself does not show
/// it; see [`back_to_page`].
pub const DONE: &str = "done";

/// The page was loaded with confirmation `step` open (`?confirm=<step>`).
pub fn step_open(step: &str) -> bool {
    query_is(CONFIRM, step)
}

/// The page was loaded after the plain form post `what` went through
/// (`?done=<what>`).
pub fn done(what: &str) -> bool {
    query_is(DONE, what)
}

fn query_is(key: &str, value: &str) -> bool {
    leptos_router::hooks::use_query_map().with_untracked(|q| q.get(key).as_deref() == Some(value))
}

/// A button that opens confirmation `step`: in place with JavaScript
/// (`open`), else as a GET form that reloads the page with
/// `?confirm=<step>`, which renders the question open.
#[component]
pub fn StepButton(
    step: String,
    open: Callback<()>,
    #[prop(optional, into)] class: String,
    #[prop(optional)] disabled: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <form method="get" class="inline">
            <input type="hidden" name=CONFIRM value=step />
            <button type="submit" class=class disabled=disabled on:click=move |ev| {
                ev.prevent_default();
                open.run(());
            }>{children()}</button>
        </form>
    }
}

/// The Cancel of a confirmation: closes it in place with JavaScript
/// (`close`), else reloads the page without `?confirm=`.
#[component]
pub fn CancelStep(close: Callback<()>) -> impl IntoView {
    view! {
        <form method="get" class="inline">
            <button type="submit" on:click=move |ev| {
                ev.prevent_default();
                close.run(());
            }>"Cancel"</button>
        </form>
    }
}

/// A "Delete" button that asks `question` first, with Delete and Cancel.
/// `children` is the form that deletes: an `ActionForm` whose submit button
/// says "Delete"; sending it closes the question. Without JavaScript the
/// question is a second step (`?confirm=<step>`, see [`StepButton`]).
#[component]
pub fn ConfirmDelete(question: String, step: String, children: ChildrenFn) -> impl IntoView {
    view! { <Confirm question step label="Delete".to_owned()>{children()}</Confirm> }
}

/// A button labelled `label` that asks `question` first; `children` is the
/// form that acts (its submit closes the question), shown with Cancel.
/// Without JavaScript the question is a second step (`?confirm=<step>`,
/// see [`StepButton`]).
#[component]
pub fn Confirm(
    question: String,
    step: String,
    label: String,
    children: ChildrenFn,
) -> impl IntoView {
    let confirming = RwSignal::new(step_open(&step));
    let close = Callback::new(move |_| confirming.set(false));
    view! {
        <Show when=move || confirming.get() fallback=move || {
            let label = label.clone();
            view! {
                <StepButton step=step.clone() class="small" open=Callback::new(move |_| confirming.set(true))>{label}</StepButton>
            }
        }>
            // The form's submit bubbles up here after it was sent.
            <span class="confirm" role="alertdialog" on:submit=move |_| confirming.set(false)>
                {question.clone()}
                {children()}
                <CancelStep close />
            </span>
        </Show>
    }
}

/// After a plain form post (no JavaScript) that went through: back to the
/// page it was sent from (its `Referer`, path and query only), without the
/// confirmation step it came through (`confirm`, and `reason`, which the
/// step carries) and the error of an earlier try, with `?done=<done>` if
/// given. Does nothing for the hydrated page's calls, whose page stays as
/// it is, nor when the browser sent no `Referer` (Leptos then goes to `/`).
#[cfg(feature = "ssr")]
pub fn back_to_page(done: Option<&str>) {
    let Some(req) = use_context::<http::request::Parts>() else {
        return;
    };
    let plain = req.method == http::Method::POST
        && req
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    let Some(referer) = req
        .headers
        .get(http::header::REFERER)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    if plain {
        leptos_axum::redirect(&page_after(referer, done));
    }
}

/// The local address to go back to from `referer`: see [`back_to_page`].
#[cfg(any(feature = "ssr", test))]
fn page_after(referer: &str, done: Option<&str>) -> String {
    let local = referer
        .split_once("://")
        .map(|(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]))
        .unwrap_or(referer);
    let local = local.split('#').next().unwrap_or("/");
    let (path, query) = local.split_once('?').unwrap_or((local, ""));
    // Only a path on this portal (not `//elsewhere`).
    let path = if path.starts_with('/') && !path.starts_with("//") {
        path
    } else {
        "/"
    };
    let done = done.map(|d| format!("{DONE}={d}"));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && ![CONFIRM, DONE, "reason", "__err", "__path"].contains(&key)
        })
        .chain(done.as_deref())
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::page_after;

    #[test]
    fn back_to_the_page_without_its_step() {
        assert_eq!(
            page_after("http://h:3000/admin/users?confirm=disable-3", None),
            "/admin/users"
        );
        assert_eq!(
            page_after(
                "https://h/rollouts/4?reason=x&confirm=decline&__err=abc&__path=p&x=1",
                None
            ),
            "/rollouts/4?x=1"
        );
        assert_eq!(
            page_after(
                "http://h/admin/users?confirm=reset-3&done=old",
                Some("password-reset")
            ),
            "/admin/users?done=password-reset"
        );
        assert_eq!(page_after("http://h", None), "/");
        assert_eq!(page_after("http://h//evil.example/x", None), "/");
        assert_eq!(page_after("http://h/windows#new", None), "/windows");
    }
}
