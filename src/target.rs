//! Targets: which SAE endpoint to call and which `DeployApplication`
//! parameters to send for one push and one application.

use crate::answer::Rejection;
use crate::config::{endpoint_for, ConfigError, DeployConfig, Endpoint};
use crate::reference::{image_url, short_digest, Pin};
use crate::sae::DeployParams;
use crate::webhook::{BodyError, PushEvent};

/// Longest `ChangeOrderDesc` sent; longer descriptions are cut.
const MAX_DESC_CHARS: usize = 200;

/// One application to deploy a push to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// SAE region of the application.
    pub(crate) region: String,
    /// SAE OpenAPI endpoint of the application's region.
    pub(crate) endpoint: Endpoint,
    /// The `DeployApplication` parameters.
    pub(crate) params: DeployParams,
}

/// Per-target settings that take precedence over the variables; a route
/// target fills them, the single-app URL leaves them empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Overrides<'a> {
    /// SAE region of the application.
    pub(crate) region: Option<&'a str>,
    /// Registry host for the image.
    pub(crate) registry_host: Option<&'a str>,
    /// ACR Enterprise instance id.
    pub(crate) acr_instance_id: Option<&'a str>,
    /// Send `…@sha256:` instead of `:tag`.
    pub(crate) deploy_by_digest: bool,
}

/// Resolves the endpoint and `DeployApplication` parameters for one app.
pub(crate) fn resolve(
    config: &DeployConfig,
    event: &PushEvent,
    app_id: &str,
    overrides: &Overrides<'_>,
) -> Result<Target, Rejection> {
    // The SAE region: the target's, the configured one, else the registry's.
    let (region, from_config) = match (overrides.region, &config.region, &event.region) {
        (Some(region), _, _) => (region, true),
        (None, Some(region), _) => (region.as_str(), true),
        (None, None, Some(region)) => (region.as_str(), false),
        (None, None, None) => return Err(BodyError::MissingField("repository.region").into()),
    };
    let endpoint = endpoint_for(config, region).ok_or_else(|| unknown_region(region, from_config))?;

    // The image, on the configured host, else the registry region's VPC host
    // when the app is in that region, else its public host: an ACR VPC
    // endpoint is reachable only from its own region.
    let registry_region = event.region.as_deref().unwrap_or(region);
    let network = if registry_region == region { "registry-vpc" } else { "registry" };
    let host = overrides
        .registry_host
        .map(str::to_owned)
        .or_else(|| config.registry_host.clone())
        .unwrap_or_else(|| format!("{network}.{registry_region}.aliyuncs.com"));
    let pin = match (overrides.deploy_by_digest, &event.digest) {
        (false, _) => Pin::Tag(&event.tag),
        (true, Some(digest)) => Pin::Digest(digest),
        (true, None) => return Err(BodyError::MissingField("push_data.digest").into()),
    };
    let image_url = image_url(&host, &event.namespace, &event.name, pin);

    Ok(Target {
        region: region.to_owned(),
        endpoint,
        params: DeployParams {
            app_id: app_id.to_owned(),
            image_url,
            change_order_desc: change_order_desc(event),
            acr_instance_id: overrides
                .acr_instance_id
                .map(str::to_owned)
                .or_else(|| config.acr_instance_id.clone()),
            ..DeployParams::default()
        },
    })
}

/// Builds the rejection for a region with no public SAE endpoint: the body's
/// fault when it came from the body, the operator's when it came from `region`.
fn unknown_region(region: &str, from_config: bool) -> Rejection {
    let reason = format!(
        "`{region}` has no known SAE endpoint; set `sae_endpoint` for private or new regions"
    );
    if from_config {
        ConfigError { variable: "region", reason }.into()
    } else {
        BodyError::InvalidField {
            field: "repository.region".into(),
            reason,
        }
        .into()
    }
}

/// Describes the push for the SAE console: the product, repository, tag and
/// short digest, so a person can tell where a change order came from.
pub(crate) fn change_order_desc(event: &PushEvent) -> String {
    let mut desc = format!("sae-deploy-trigger: ACR push {}:{}", event.repository(), event.tag);
    if let Some(digest) = &event.digest {
        desc.push_str(&format!(" ({})", short_digest(digest)));
    }
    desc.chars().take(MAX_DESC_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Credentials, Secret};
    use std::time::Duration;

    const APP: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";

    fn config() -> DeployConfig {
        DeployConfig {
            credentials: Credentials {
                access_key_id: Secret::new("id"),
                access_key_secret: Secret::new("secret"),
                security_token: None,
            },
            region: None,
            sae_endpoint: None,
            registry_host: None,
            acr_instance_id: None,
            sae_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(3600),
        }
    }

    fn event(region: Option<&str>) -> PushEvent {
        PushEvent {
            namespace: "prod".into(),
            name: "gateway".into(),
            tag: "release-v2.0.1".into(),
            digest: Some(format!("sha256:2c26b46b68ff{}", "0".repeat(52))),
            region: region.map(str::to_owned),
        }
    }

    #[test]
    fn default_vpc_host_and_region_endpoint() {
        let target = resolve(&config(), &event(Some("cn-hangzhou")), APP, &Overrides::default()).unwrap();
        assert_eq!(target.endpoint.base_url(), "https://sae.cn-hangzhou.aliyuncs.com");
        assert_eq!(
            target.params.image_url,
            "registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:release-v2.0.1"
        );
        assert_eq!(target.params.app_id, APP);
        assert_eq!(target.params.acr_instance_id, None);
    }

    #[test]
    fn configured_region_host_and_instance() {
        let mut config = config();
        config.region = Some("cn-shanghai".into());
        config.registry_host = Some("myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com".into());
        config.acr_instance_id = Some("cri-abc123".into());
        let target = resolve(&config, &event(Some("cn-hangzhou")), APP, &Overrides::default()).unwrap();
        assert_eq!(target.endpoint.base_url(), "https://sae.cn-shanghai.aliyuncs.com");
        assert_eq!(
            target.params.image_url,
            "myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com/prod/gateway:release-v2.0.1"
        );
        assert_eq!(target.params.acr_instance_id.as_deref(), Some("cri-abc123"));
    }

    #[test]
    fn other_region_uses_public_registry_host() {
        let mut config = config();
        config.region = Some("cn-beijing".into());
        let target = resolve(&config, &event(Some("cn-hangzhou")), APP, &Overrides::default()).unwrap();
        assert_eq!(target.endpoint.base_url(), "https://sae.cn-beijing.aliyuncs.com");
        assert_eq!(
            target.params.image_url,
            "registry.cn-hangzhou.aliyuncs.com/prod/gateway:release-v2.0.1"
        );
    }

    #[test]
    fn region_missing_everywhere() {
        let error = resolve(&config(), &event(None), APP, &Overrides::default()).unwrap_err();
        assert_eq!(error.status_and_code(), (400, "missing_field"));
    }

    #[test]
    fn unknown_region_blames_its_source() {
        let error = resolve(&config(), &event(Some("xx-nowhere-1")), APP, &Overrides::default()).unwrap_err();
        assert_eq!(error.status_and_code(), (400, "invalid_field"));
        let mut config = config();
        config.region = Some("xx-nowhere-1".into());
        let error = resolve(&config, &event(Some("cn-hangzhou")), APP, &Overrides::default()).unwrap_err();
        assert_eq!(error.status_and_code(), (500, "config_error"));
    }

    #[test]
    fn custom_endpoint_serves_any_region() {
        let mut config = config();
        config.sae_endpoint = Some(Endpoint { scheme: "http".into(), authority: "127.0.0.1:9".into() });
        let target = resolve(&config, &event(Some("xx-nowhere-1")), APP, &Overrides::default()).unwrap();
        assert_eq!(target.endpoint.base_url(), "http://127.0.0.1:9");
    }

    #[test]
    fn overrides_win_over_variables() {
        let mut config = config();
        config.region = Some("cn-beijing".into());
        config.acr_instance_id = Some("cri-fromvariable".into());
        let overrides = Overrides {
            region: Some("cn-shenzhen"),
            registry_host: Some("registry.cn-shenzhen.aliyuncs.com"),
            acr_instance_id: Some("cri-fromroute"),
            deploy_by_digest: true,
        };
        let target = resolve(&config, &event(Some("cn-hangzhou")), APP, &overrides).unwrap();
        assert_eq!(target.region, "cn-shenzhen");
        assert_eq!(target.endpoint.base_url(), "https://sae.cn-shenzhen.aliyuncs.com");
        assert!(target.params.image_url.starts_with("registry.cn-shenzhen.aliyuncs.com/prod/gateway@sha256:2c26b46b68ff"));
        assert_eq!(target.params.acr_instance_id.as_deref(), Some("cri-fromroute"));
    }

    #[test]
    fn digest_pin_needs_a_digest() {
        let mut event = event(Some("cn-hangzhou"));
        event.digest = None;
        let overrides = Overrides { deploy_by_digest: true, ..Overrides::default() };
        let error = resolve(&config(), &event, APP, &overrides).unwrap_err();
        assert_eq!(error.status_and_code(), (400, "missing_field"));
    }

    #[test]
    fn description_names_the_push() {
        let desc = change_order_desc(&event(None));
        assert_eq!(desc, "sae-deploy-trigger: ACR push prod/gateway:release-v2.0.1 (sha256:2c26b46b68ff)");
        let mut no_digest = event(None);
        no_digest.digest = None;
        assert_eq!(change_order_desc(&no_digest), "sae-deploy-trigger: ACR push prod/gateway:release-v2.0.1");
    }
}
