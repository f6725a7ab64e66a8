//! Routing: which applications a push goes to, and with which settings.
//!
//! Without a route table, the trigger URL's `app_id` is the one target.
//! With a table, the table decides, and it is also the allowlist: an
//! `app_id` in the URL only narrows the routed targets, never adds one. An
//! app named by several admitting routes gets the first route's settings.

use crate::answer::Rejection;
use crate::config::{ConfigError, DeployConfig, Variables};
use crate::routes::{parse_routes, Route, RouteTable};
use crate::target::{resolve, Overrides, Target};
use crate::webhook::PushEvent;

/// Largest `routes` value accepted.
pub(crate) const MAX_ROUTES_BYTES: usize = 256 * 1024;

/// One application a push may go to.
#[derive(Debug)]
pub(crate) struct PlanItem<'a> {
    /// SAE application id.
    pub(crate) app_id: String,
    /// The route that selected it; `None` in single-app mode.
    pub(crate) route: Option<&'a Route>,
    /// The resolved target, or why it cannot be resolved.
    pub(crate) target: Result<Target, Rejection>,
}

/// Loads the `routes` variable. `Ok(None)` means no table is set.
pub(crate) fn load_routes(vars: &dyn Variables) -> Result<Option<RouteTable>, ConfigError> {
    let Some(text) = vars.get("routes") else {
        return Ok(None);
    };
    if text.len() > MAX_ROUTES_BYTES {
        return Err(ConfigError {
            variable: "routes",
            reason: format!("is {} bytes, over the {MAX_ROUTES_BYTES}-byte limit", text.len()),
        });
    }
    parse_routes(&text).map_err(|error| ConfigError {
        variable: "routes",
        reason: error.to_string(),
    })
}

/// Plans the targets of a push. `url_app_id` is the validated `app_id` of
/// the URL, if any.
pub(crate) fn plan<'a>(
    config: &DeployConfig,
    routes: Option<&'a RouteTable>,
    event: &PushEvent,
    url_app_id: Option<&str>,
) -> Result<Vec<PlanItem<'a>>, Rejection> {
    let Some(table) = routes else {
        let app_id = url_app_id.ok_or(Rejection::MissingParameter {
            param: "app_id",
            hint: "add `app_id=<SAE application id>` to the trigger URL, or set the `routes` variable",
        })?;
        let target = resolve(config, event, app_id, &Overrides::default());
        return Ok(vec![PlanItem {
            app_id: app_id.to_owned(),
            route: None,
            target: Ok(target?),
        }]);
    };

    // Each app is planned once, by the first route that names it, so two
    // routes that both admit a push cannot deploy it to one app twice.
    let repository = event.repository();
    let mut items: Vec<PlanItem<'a>> = Vec::new();
    for (route, route_target) in table.targets_for(&repository, &event.tag) {
        if url_app_id.is_some_and(|app| !app.eq_ignore_ascii_case(&route_target.app_id)) {
            continue;
        }
        if items.iter().any(|item| item.app_id.eq_ignore_ascii_case(&route_target.app_id)) {
            continue;
        }
        let overrides = Overrides {
            region: route_target.region.as_deref(),
            registry_host: route_target.registry_host.as_deref(),
            acr_instance_id: route_target.acr_instance_id.as_deref(),
            deploy_by_digest: route_target.deploy_by_digest,
        };
        let target = resolve(config, event, &route_target.app_id, &overrides).map(|mut target| {
            route_target.apply_options(&mut target.params);
            target
        });
        items.push(PlanItem {
            app_id: route_target.app_id.clone(),
            route: Some(route),
            target,
        });
    }
    Ok(items)
}
