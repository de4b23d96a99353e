//! `/deployments`: every publication and deployment, newest first,
//! filtered by state and patch text. The filter and the page are the
//! URL's query (`?state=failed&search=openssl&page=2`), so links (from the
//! home page) land filtered and the page works without JavaScript.

use crate::errors::AppError;
use crate::ui::Time;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use patchport_core::view::Page;
use patchport_core::view::home::{DeploymentRow, DeploymentState};

/// Deployments per page.
pub const DEPLOYMENTS_PER_PAGE: i64 = 50;

/// Deployments, newest first: `state` one of
/// [`DeploymentState`]'s names or "" for any, `search` text in a patch's
/// package and version.
#[server(endpoint = "admin/deployments/list")]
pub async fn list_deployments(
    state: String,
    search: String,
    page: i64,
) -> Result<Page<DeploymentRow>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = match state.as_str() {
            "" => None,
            s => Some(DeploymentState::parse(s).ok_or_else(|| {
                AppError::invalid("state", "state must be running, failed or finished")
            })?),
        };
        let q = patchport_db::home::DeploymentQuery {
            state,
            search: search.chars().take(200).collect(),
        };
        let app = ssr::state()?;
        let mut conn = app.db.read().await?;
        Ok(patchport_db::home::deployments(&mut conn, &q, page, DEPLOYMENTS_PER_PAGE).await?)
    })
    .await
}

/// A deployment's patches in a few words: the first, and how many more.
pub fn patch_summary(patches: &[String]) -> String {
    match patches {
        [] => "no patches".to_owned(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}

/// The list's filter as the URL holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    state: String,
    search: String,
    page: i64,
}

impl Filter {
    /// The query string of this filter on page `page`.
    fn href(&self, page: i64) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.state.is_empty() {
            pairs.push(("state", self.state.clone()));
        }
        if !self.search.is_empty() {
            pairs.push(("search", self.search.clone()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/deployments".to_owned()
        } else {
            format!("/deployments?{query}")
        }
    }
}

/// Previous / next as links to the same filter's other pages.
#[component]
fn PageLinks(filter: Filter, total: i64) -> impl IntoView {
    let pages = ((total + DEPLOYMENTS_PER_PAGE - 1) / DEPLOYMENTS_PER_PAGE).max(1);
    let page = filter.page.clamp(1, pages.max(filter.page));
    view! {
        <nav class="pager" aria-label="Pages">
            {if page > 1 {
                view! { <a rel="prev" href=filter.href(page - 1)>"‹ Previous"</a> }.into_any()
            } else {
                view! { <span class="muted">"‹ Previous"</span> }.into_any()
            }}
            <span>{format!("Page {page} of {pages} · {total} in all")}</span>
            {if page < pages {
                view! { <a rel="next" href=filter.href(page + 1)>"Next ›"</a> }.into_any()
            } else {
                view! { <span class="muted">"Next ›"</span> }.into_any()
            }}
        </nav>
    }
}

/// `/deployments`: all deployments, filtered by the URL's query.
#[component]
pub fn DeploymentsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| Filter {
            state: q.get("state").unwrap_or_default(),
            search: q.get("search").unwrap_or_default(),
            page: q
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1),
        })
    });
    let rows = Resource::new(
        move || filter.get(),
        |f| list_deployments(f.state, f.search, f.page),
    );
    let initial = filter.get_untracked();
    view! {
        <section class="card">
            <h1>"Deployments"</h1>
            <p class="hint">"Every publication and deployment, newest first. Publish or deploy patches from the "
                <a href="/report">"Patches missing"</a>" report; policies deploy approved rollouts by themselves."</p>
            // A GET form: the filter goes into the URL, with or without
            // JavaScript.
            <form method="get" action="/deployments" class="toolbar filters" id="deployment-filters">
                // The fields follow the URL when a link changes it in place.
                <select name="state" aria-label="State" prop:value=move || filter.with(|f| f.state.clone())>
                    <option value="" selected=initial.state.is_empty()>"Any state"</option>
                    {DeploymentState::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=initial.state == s.as_str()>{s.as_str()}</option>
                    }).collect_view()}
                </select>
                <input type="search" name="search" placeholder="Patch, e.g. openssl" aria-label="Patch"
                    value=initial.search.clone() prop:value=move || filter.with(|f| f.search.clone()) />
                <button type="submit">"Filter"</button>
                <a href="/deployments" hidden=move || filter.with(|f| f.state.is_empty() && f.search.is_empty())>"Clear"</a>
            </form>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let f = filter.get_untracked();
                    match rows.await {
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        Ok(p) if p.items.is_empty() => view! {
                            <p class="empty">{if f.state.is_empty() && f.search.is_empty() {
                                "No deployments yet."
                            } else {
                                "No deployment matches this filter."
                            }}</p>
                        }.into_any(),
                        Ok(p) => view! {
                            <PageLinks filter=f.clone() total=p.total />
                            <div class="table-scroll"><table class="data" id="deployments">
                                <thead><tr><th>"Deployment"</th><th>"Patches"</th><th>"When"</th><th>"By"</th>
                                    <th>"State"</th><th>"Servers"</th><th>"Installed"</th><th>"Failed"</th><th>"Pending"</th></tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|d| {
                                        let c = d.counts;
                                        view! {
                                            <tr data-deployment=d.id.to_string() data-state=d.state.as_str()>
                                                <td><a href=format!("/deployments/{}", d.id)>{format!("#{} {}", d.id, d.kind)}</a>
                                                    {d.rollout_id.map(|r| view! { <br /><small><a href=format!("/rollouts/{r}")>"rollout"</a></small> })}</td>
                                                <td title=d.patches.join(", ")>{patch_summary(&d.patches)}</td>
                                                <td class="nowrap"><small><Time ts=d.created_at /></small></td>
                                                <td>{d.created_by.clone()}</td>
                                                <td><span class=format!("badge deployment-{}", d.state.as_str())>{d.state.as_str()}</span></td>
                                                <td class="num">{c.targets}</td>
                                                <td class="num">{c.installed}{(c.published > 0).then(|| view! { <small>{format!(" (+{} published)", c.published)}</small> })}</td>
                                                <td class="num">{c.failed}</td>
                                                <td class="num">{c.pending}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                            <PageLinks filter=f total=p.total />
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{Filter, patch_summary};

    #[test]
    fn links_keep_the_filter() {
        let f = Filter {
            state: "failed".into(),
            search: "open ssl&x".into(),
            page: 1,
        };
        assert_eq!(
            f.href(2),
            "/deployments?state=failed&search=open+ssl%26x&page=2"
        );
        assert_eq!(Filter::default().href(1), "/deployments");
    }

    #[test]
    fn patches_in_a_few_words() {
        assert_eq!(patch_summary(&[]), "no patches");
        assert_eq!(patch_summary(&["a 1".into()]), "a 1");
        assert_eq!(
            patch_summary(&["a 1".into(), "b 2".into(), "c 3".into()]),
            "a 1 and 2 more"
        );
    }
}
