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

/// A "Delete" button that asks `question` first, with Delete and Cancel;
/// `on_confirm` runs only on Delete.
#[component]
pub fn ConfirmDelete(question: String, on_confirm: Callback<()>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    view! {
        <Show when=move || confirming.get() fallback=move || view! {
            <button type="button" class="small" on:click=move |_| confirming.set(true)>"Delete"</button>
        }>
            <span class="confirm" role="alertdialog">
                {question.clone()}
                <button type="button" class="danger" on:click=move |_| { on_confirm.run(()); confirming.set(false); }>"Delete"</button>
                <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </span>
        </Show>
    }
}
