//! Server groups (admins): create, delete, mark the test group, and put
//! servers in groups.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A group as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// Group id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// New patches are tried here first.
    pub is_test_group: bool,
    /// Servers in it.
    pub members: i64,
}

/// The groups as a page loads them once for all its parts.
pub type Groups = Resource<Result<Vec<GroupView>, AppError>>;

/// All groups, by name.
#[server(endpoint = "admin/groups/list")]
pub async fn list_groups() -> Result<Vec<GroupView>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        Ok(patchport_db::groups::list(&mut conn)
            .await?
            .into_iter()
            .map(|g| GroupView {
                id: g.id,
                name: g.name,
                is_test_group: g.is_test_group,
                members: g.members,
            })
            .collect())
    })
    .await
}

/// Creates a group.
#[server(endpoint = "admin/groups/create")]
pub async fn create_group(name: String) -> Result<i64, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let name = AppError::named("name", "a group", &name)?;
        let id = patchport_db::groups::create(&mut w.tx, &name, w.now).await?;
        w.commit("group.created", &name, "").await?;
        Ok(id)
    })
    .await
}

/// Deletes a group; its servers stay, outside it.
#[server(endpoint = "admin/groups/delete")]
pub async fn delete_group(id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let name = patchport_db::groups::delete(&mut w.tx, id).await?;
        w.commit("group.deleted", &name, "").await?;
        crate::ui::back_to_page(None);
        Ok(())
    })
    .await
}

/// Makes a group the test group (`id` 0: none).
#[server(endpoint = "admin/groups/set_test")]
pub async fn set_test_group(id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        patchport_db::groups::set_test_group(&mut w.tx, (id > 0).then_some(id)).await?;
        let detail = if id > 0 {
            format!("group {id}")
        } else {
            "none".into()
        };
        w.commit("group.test_group_set", &detail, "").await?;
        Ok(())
    })
    .await
}

/// Puts a server in exactly these groups.
#[server(endpoint = "admin/servers/set_groups", input = server_fn::codec::Json)]
pub async fn set_server_groups(server_id: i64, group_ids: Vec<i64>) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let server = patchport_db::servers::get(&mut w.tx, server_id)
            .await?
            .ok_or(AppError::NotFound)?;
        let known = patchport_db::groups::list(&mut w.tx).await?;
        let mut names = Vec::new();
        for id in &group_ids {
            let group = known
                .iter()
                .find(|g| g.id == *id)
                .ok_or_else(|| AppError::invalid("group_ids", format!("there is no group {id}")))?;
            names.push(group.name.clone());
        }
        patchport_db::groups::set_server_groups(&mut w.tx, server_id, &group_ids).await?;
        w.commit("server.groups_set", &server.row.hostname, &names.join(", "))
            .await?;
        Ok(())
    })
    .await
}

/// The groups card on the servers page.
#[component]
pub fn GroupsCard(
    create: ServerAction<CreateGroup>,
    delete: ServerAction<DeleteGroup>,
    set_test: ServerAction<SetTestGroup>,
    groups: Resource<Result<Vec<GroupView>, AppError>>,
) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Groups"</h2>
            <p class="hint">"Group servers to filter them and to target rollouts. The test group gets new patches first."</p>
            <ActionForm action=create attr:class="inline" attr:id="create-group">
                <input type="text" name="name" placeholder="New group name" aria-label="Group name" required maxlength="64" />
                <button type="submit" class="primary">"Create group"</button>
            </ActionForm>
            <FormError action=create />
            <FormError action=delete />
            <FormError action=set_test />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { match groups.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No groups yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-scroll"><table class="data" id="groups">
                            <thead><tr><th>"Group"</th><th>"Servers"</th><th>"Test group"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|g| {
                                    let id = g.id;
                                    let question = format!("Delete group {}? Its {} servers stay.", g.name, g.members);
                                    view! {
                                        <tr data-group=g.name.clone()>
                                            <td>{g.name.clone()}</td>
                                            <td>{g.members}</td>
                                            <td>
                                                {g.is_test_group.then(|| view! { <span class="badge test">"test group"</span>" " })}
                                                // Unmarking sends no group: none is the test group.
                                                <ActionForm action=set_test attr:class="inline">
                                                    <input type="hidden" name="id" value=if g.is_test_group { "0".to_owned() } else { id.to_string() } />
                                                    <button type="submit" class="small">{if g.is_test_group { "Unmark" } else { "Make test group" }}</button>
                                                </ActionForm>
                                            </td>
                                            <td>
                                                <crate::ui::ConfirmDelete question=question.clone() step=format!("delete-group-{id}")>
                                                    <ActionForm action=delete attr:class="inline">
                                                        <input type="hidden" name="id" value=id.to_string() />
                                                        <button type="submit" class="danger">"Delete"</button>
                                                    </ActionForm>
                                                </crate::ui::ConfirmDelete>
                                            </td>
                                        </tr>
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
