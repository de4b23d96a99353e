//! The page shell, the router and the frame around every page.

use crate::accounts::{AccountPage, Login, LoginPage, SetupAdmin, SetupPage, UserView, whoami};
use crate::audit::AuditTrailPage;
use crate::errors::AppError;
use crate::servers::{ServerPage, ServersPage};
use crate::users::UsersPage;
use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::SsrMode;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;
use patchport_core::Role;

/// Sign-in state shared by all pages: the actions that change it and the
/// current user, refetched whenever one of them ran.
#[derive(Clone, Copy)]
pub struct AuthContext {
    /// Sign in.
    pub login: ServerAction<Login>,
    /// First-run setup (signs the new admin in).
    pub setup: ServerAction<SetupAdmin>,
    /// Who is signed in.
    pub user: Resource<Result<Option<UserView>, AppError>>,
    /// Who is signed in, known without waiting: the server's answer for
    /// this request (carried to the browser with the page), then `user`
    /// once it is loaded again (after a sign-in; an effect, so in the
    /// browser only). Pages are gated on it
    /// outside any `Suspense`, so a page is built once per render: inside
    /// one, the server walks the children several times and each walk
    /// built the page anew, running its queries again (issue 17).
    pub current: RwSignal<Option<UserView>>,
}

/// The Content-Security-Policy of every page: scripts only from this origin
/// or carrying this response's nonce, WASM allowed, no framing.
pub fn content_security_policy(nonce: Option<&str>) -> String {
    let script = match nonce {
        Some(n) => format!("'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src {script}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The HTML document around the app, rendered on the server only. Its
/// Content-Security-Policy header is set by the portal's
/// `security_headers` middleware, which also chose the page's nonce: a
/// header set here through `ResponseOptions` was sometimes missing from
/// the response, and the page's scripts were then blocked.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let login = ServerAction::<Login>::new();
    let setup = ServerAction::<SetupAdmin>::new();
    let user = Resource::new(
        move || (login.version().get(), setup.version().get()),
        |_| whoami(),
    );
    let current = RwSignal::new(SharedValue::new(user_on_server).into_inner());
    // In an effect (the browser only), not a memo: a memo read the
    // resource outside any Suspense, which Leptos warns about on every
    // render. Set only when it differs, so hydration rebuilds nothing.
    Effect::new(move |_| {
        if let Some(Ok(u)) = user.get()
            && current.with_untracked(|c| *c != u)
        {
            current.set(u);
        }
    });
    provide_context(AuthContext {
        login,
        setup,
        user,
        current,
    });
    // Effects run only in the browser, once the page is hydrated; the mark
    // tells end-to-end tests (and curious admins) that the WASM is live.
    Effect::new(|_| {
        if let Some(w) = web_sys::window() {
            let _ = js_sys::Reflect::set(&w, &"__patchportHydrated".into(), &true.into());
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/patchport.css" />
        <Title formatter=|page: String| if page.is_empty() { "Patchport".to_owned() } else { format!("{page} · Patchport") } />
        // Part of the app, not the shell: hydration starts at the body's first
        // node. `target` leaves the click to the browser, which moves the
        // focus; the router would only scroll.
        <a class="skip" href="#main" target="_self">"Skip to the content"</a>
        <Router>
            <Header />
            <main id="main" tabindex="-1">
                <crate::zones::ZoneOffer />
                <Routes fallback=|| view! { <Title text="Not found" /><section class="card narrow"><h1>"Not found"</h1><p>"There is no such page."</p></section> }>
                    <Route path=path!("/") view=Dashboard />
                    <Route path=path!("/login") view=|| view! { <Title text="Sign in" /><LoginPage /> } />
                    <Route path=path!("/setup") view=|| view! { <Title text="Set up" /><SetupPage /> } />
                    <Route ssr=SsrMode::Async path=path!("/account") view=|| view! { <Title text="Account" /><AccountPage /> } />
                    <Route path=path!("/forgot") view=|| view! { <Title text="Forgot password" /><crate::mail::ForgotPage /> } />
                    <Route path=path!("/reset/:token") view=|| view! { <Title text="New password" /><crate::mail::AccountLinkPage purpose="reset" /> } />
                    <Route path=path!("/invite/:token") view=|| view! { <Title text="Invitation" /><crate::mail::AccountLinkPage purpose="invite" /> } />
                    <Route path=path!("/advisories") view=|| view! { <Gate admin=true><Title text="Advisories" /><crate::advisories::AdvisoriesPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/outbox") view=|| view! { <Gate admin=true><Title text="Outbox" /><crate::mail::OutboxPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/servers") view=|| view! { <Gate><Title text="Servers" /><ServersPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/servers/:id") view=|| view! { <Gate><Title text="Server" /><ServerPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/report") view=|| view! { <Gate admin=true><Title text="Patches missing" /><crate::report::ReportPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/patches/:id") view=|| view! { <Gate><Title text="Patch" /><crate::patches::PatchPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/rollouts") view=|| view! { <Gate admin=true><Title text="Rollouts" /><crate::rollouts::RolloutsPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/rollouts/:id") view=|| view! { <Gate admin=true><Title text="Rollout" /><crate::rollouts::RolloutPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/deployments") view=|| view! { <Gate admin=true><Title text="Deployments" /><crate::deployments::DeploymentsPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/deployments/:id") view=|| view! { <Gate admin=true><Title text="Deployment" /><crate::rollouts::DeploymentPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/policies") view=|| view! { <Gate admin=true><Title text="Rollout policies" /><crate::rollouts::PoliciesPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/windows") view=|| view! { <Gate admin=true><Title text="Maintenance windows" /><crate::windows::WindowsPage /></Gate> } />
                    <Route path=path!("/notifications") view=|| view! { <Gate admin=true><Title text="Notifications" /><crate::rollouts::NotificationsPage /></Gate> } />
                    <Route ssr=SsrMode::Async path=path!("/admin/users") view=|| view! { <Gate admin=true><Title text="Users" /><UsersPage /></Gate> } />
                    <Route path=path!("/admin/audit") view=|| view! { <Gate admin=true><Title text="Audit trail" /><AuditTrailPage /></Gate> } />
                </Routes>
            </main>
        </Router>
    }
}

/// The user the server already resolved for this request (during server
/// rendering), so that pages can decide without waiting for a resource.
fn user_on_server() -> Option<UserView> {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<UserView>().cloned())
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Shows its children to signed-in users (to admins only, with `admin`),
/// with the user in context; anybody else gets a 403 page.
#[component]
fn Gate(#[prop(optional)] admin: bool, children: ChildrenFn) -> impl IntoView {
    let auth = expect_context::<AuthContext>();
    let allowed = move |u: &UserView| !admin || u.role == Role::Admin;
    #[cfg(feature = "ssr")]
    if !user_on_server().is_some_and(|u| allowed(&u))
        && let Some(res) = use_context::<leptos_axum::ResponseOptions>()
    {
        res.set_status(http::StatusCode::FORBIDDEN);
    }
    move || match auth.current.get() {
        Some(u) if allowed(&u) => {
            // Pages below read the user from context instead of the user
            // resource (see `ui::Pager`).
            provide_context(u);
            children().into_any()
        }
        _ => view! {
            <section class="card narrow forbidden">
                <h1>"403 · Administrators only"</h1>
                <p>"This page is for administrators. " <a href="/">"Back to your dashboard"</a></p>
            </section>
        }
        .into_any(),
    }
}

#[component]
fn Header() -> impl IntoView {
    let auth = expect_context::<AuthContext>();
    let menu_open = RwSignal::new(false);
    // Set once the page is hydrated (effects run only in the browser).
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    view! {
        <header class="top">
            <a class="brand" href="/">"Patchport"</a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { auth.user.await.ok().flatten().map(|u| {
                    let admin = u.role == Role::Admin;
                    let name = u.name().to_owned();
                    view! {
                        // The menu folds behind a button on narrow screens.
                        // Without JavaScript a checkbox and its label open
                        // it; once hydrated, a button that says whether it is
                        // open (aria-expanded) takes their place, and
                        // following a link folds the menu again.
                        {move || if live.get() {
                            view! {
                                <button type="button" id="menu-toggle" class="menu-button" aria-controls="main-nav"
                                    aria-expanded=move || menu_open.get().to_string()
                                    on:click=move |_| menu_open.update(|o| *o = !*o)>"Menu"</button>
                            }.into_any()
                        } else {
                            view! {
                                <input type="checkbox" id="menu-open" class="menu-open" aria-label="Show the menu" />
                                <label for="menu-open" class="menu-button" aria-hidden="true">"Menu"</label>
                            }.into_any()
                        }}
                        <nav class="main" id="main-nav" class:open=move || menu_open.get() aria-label="Main" on:click=move |_| menu_open.set(false)>
                            <A href="/">"Home"</A>
                            <A href="/servers">{if admin { "Servers" } else { "My servers" }}</A>
                            {admin.then(|| view! {
                                <A href="/report">"Patches missing"</A>
                                <A href="/rollouts">"Rollouts"</A>
                                <A href="/deployments">"Deployments"</A>
                                <A href="/policies">"Policies"</A>
                                <A href="/windows">"Windows"</A>
                                <A href="/advisories">"Advisories"</A>
                                <A href="/notifications">"Notifications"</A>
                                <A href="/outbox">"Outbox"</A>
                                <A href="/admin/users">"Users"</A>
                                <A href="/admin/audit">"Audit trail"</A>
                            })}
                        </nav>
                        <div class="who">
                            <A href="/account">{name}</A>
                            <span class=format!("badge role-{}", u.role)>{u.role.as_str()}</span>
                            // A plain form post and a full page load: signing out
                            // drops all client state along with the session.
                            <form method="post" action="/api/logout" class="inline">
                                <button type="submit" class="link">"Sign out"</button>
                            </form>
                        </div>
                    }
                }) })}
            </Transition>
        </header>
    }
}

#[component]
fn Dashboard() -> impl IntoView {
    let auth = expect_context::<AuthContext>();
    view! {
        <Title text="Dashboard" />
        // Outside a Suspense: see `AuthContext::current`.
        {move || auth.current.get().map(|u| {
                let admin = u.role == Role::Admin;
                view! {
                    <section class="card">
                        <h1>{format!("Welcome, {}", u.name())}</h1>
                        {if admin {
                            view! {
                                <p>"You administer this portal."</p>
                                <crate::home::AdminToDo />
                                <ul class="tiles">
                                    <li><a href="/report"><strong>"Patches missing"</strong><span>"Which patches are missing where, how severe, since when."</span></a></li>
                                    <li><a href="/servers"><strong>"Servers"</strong><span>"Enrolled servers, their agents and missing patches; enrol new ones."</span></a></li>
                                    <li><a href="/admin/users"><strong>"Users"</strong><span>"Create admins and server owners, disable accounts, reset passwords."</span></a></li>
                                    <li><a href="/admin/audit"><strong>"Audit trail"</strong><span>"Sign-ins, failures and account changes, newest first."</span></a></li>
                                    <li><a href="/advisories"><strong>"Advisories"</strong><span>"Imported security advisories and known exploited CVEs; each import's progress and outcome."</span></a></li>
                                    <li><a href="/outbox"><strong>"Outbox"</strong><span>"Every mail the portal sends: queued, sent, given up; resend."</span></a></li>
                                </ul>
                                <crate::report::MorningLook />
                            }.into_any()
                        } else {
                            view! {
                                <p>"You look after servers. Install the patches your administrators published for them, and book their reboots inside their maintenance windows."</p>
                                <crate::home::OwnerToDo />
                                <ul class="tiles">
                                    <li><a href="/servers"><strong>"My servers"</strong><span>"Status, patches published for you, reboots needed and booked, the next window."</span></a></li>
                                    <li><a href="/account"><strong>"Mail"</strong><span>"Choose which mails you get."</span></a></li>
                                </ul>
                            }.into_any()
                        }}
                    </section>
                }
            })}
    }
}
