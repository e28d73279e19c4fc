//! The bot's `http` step, guarded against server-side request forgery. A scenario author
//! (or a customer's answer placed in a URL) must not reach what only the server can reach:
//! loopback, private networks, link-local addresses and cloud metadata services.
//!
//! How: only http and https; no proxy (a proxy would resolve the name for us); names are
//! resolved by our own resolver, which drops forbidden addresses, and reqwest connects to
//! exactly the addresses it returned (so the checked address is the one used: no second
//! lookup for a DNS-rebinding answer to slip into); URLs with a literal IP are checked
//! before sending and at every redirect; at most 5 redirects. An allow-list names the
//! internal hosts an admin means the bot to call (an inventory service on the LAN).
//! Every call has a timeout and a cap on the answer's size.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect, Method, Url,
};
use serde_json::Value;
use switchboard_bot::{HttpReply, HttpRequest};

/// The largest answer the bot reads.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 5;

/// Hosts (names, addresses, or CIDR ranges) the bot may call although they are internal.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    names: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Parses entries such as `inventory.lan`, `10.0.0.5`, `10.1.0.0/16`, `127.0.0.1`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut list = AllowList::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            match addr.parse::<IpAddr>() {
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits = match bits {
                        Some(b) => b
                            .parse::<u8>()
                            .ok()
                            .filter(|b| *b <= max)
                            .ok_or_else(|| format!("`{entry}`: bad prefix length"))?,
                        None => max,
                    };
                    list.nets.push((ip, bits));
                }
                Err(_) if bits.is_none() && !entry.contains(['/', ' ', ':']) => {
                    list.names.push(entry.to_ascii_lowercase())
                }
                Err(_) => return Err(format!("`{entry}` is not a host name, address or range")),
            }
        }
        Ok(list)
    }

    fn allows_name(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.contains(&host)
    }

    /// Whether every entry is an address or range (a list of trusted proxies must be).
    pub fn has_no_names(&self) -> bool {
        self.names.is_empty()
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

fn v4_forbidden(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata lives here
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (100.100.100.200: Alibaba metadata)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// Whether an address is off limits for the bot: loopback, private, link-local, metadata,
/// and every IPv6 form that embeds such an IPv4 address.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return v4_forbidden(v4);
            }
            let first = v6.segments()[0];
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254: AWS metadata)
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed by some)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
        }
    }
}

/// The IPv4 address inside IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d),
/// NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
        return Some(tail);
    }
    if s[0] == 0x64 && s[1] == 0xff9b {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Resolves names and keeps only the addresses the bot may reach.
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let named = allow.allows_name(&host);
            let usable: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| named || allow.allows_ip(a.ip()) || !forbidden(a.ip()))
                .collect();
            if usable.is_empty() {
                let shown: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
                return Err(format!(
                    "{host} resolves to an internal address ({}); add it to the bot's HTTP allow-list if the bot is meant to call it",
                    shown.join(", ")
                )
                .into());
            }
            let addrs: Addrs = Box::new(usable.into_iter());
            Ok(addrs)
        })
    }
}

/// Checks a URL before it is requested (and at each redirect): scheme, and a literal
/// address in the host.
fn check_url(url: &Url, allow: &AllowList) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https are allowed, not {}",
            url.scheme()
        ));
    }
    let host = url.host_str().ok_or("the URL has no host")?;
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        // A name: the resolver checks what it resolves to.
        return Ok(());
    };
    if forbidden(ip) && !allow.allows_ip(ip) {
        return Err(format!(
            "{ip} is an internal address; add it to the bot's HTTP allow-list if the bot is meant to call it"
        ));
    }
    Ok(())
}

/// The client the bot's `http` steps go through.
#[derive(Clone)]
pub struct BotHttp {
    client: reqwest::Client,
    allow: Arc<AllowList>,
}

impl BotHttp {
    /// The guarded client. Failing to build it is an error, never a fall-back to a plain
    /// client: that would call internal addresses the guard exists to refuse.
    pub fn new(allow: AllowList) -> Result<Self, String> {
        let allow = Arc::new(allow);
        let for_redirects = allow.clone();
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_url(attempt.url(), &for_redirects) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(policy)
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Switchboard-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the bot's guarded HTTP client: {e}"))?;
        Ok(Self { client, allow })
    }

    /// Makes the call. The answer's body is JSON when it parses, else text; an error says
    /// why in words an admin can act on.
    pub async fn call(&self, request: &HttpRequest) -> Result<HttpReply, String> {
        let url = Url::parse(&request.url).map_err(|e| format!("bad URL {}: {e}", request.url))?;
        check_url(&url, &self.allow)?;
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("bad method {}", request.method))?;
        let mut builder = self
            .client
            .request(method, url)
            .timeout(request.timeout.max(Duration::from_millis(100)));
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &request.body {
            let json = serde_json::from_str::<Value>(body).is_ok();
            if json
                && !request
                    .headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                builder = builder.header("content-type", "application/json");
            }
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!(
                    "the answer is larger than {} KB",
                    MAX_RESPONSE_BYTES / 1024
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(HttpReply { status, body })
    }
}

/// An error with its causes, which is where reqwest keeps the resolver's explanation.
fn describe(e: reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_forbidden_in_every_spelling() {
        for bad in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
        ] {
            assert!(forbidden(ip(bad)), "{bad} should be forbidden");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(ip(good)), "{good} should be allowed");
        }
    }

    /// A service on 127.0.0.1: JSON, a redirect to another loopback address, a huge answer.
    async fn service() -> std::net::SocketAddr {
        use axum::{response::Redirect, routing::get, Router};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/json",
                get(|| async { axum::Json(serde_json::json!({"status": "shipped"})) }),
            )
            .route(
                "/redirect",
                get(move || async move {
                    Redirect::temporary(&format!("http://127.0.0.2:{}/json", addr.port()))
                }),
            )
            .route("/big", get(|| async { "x".repeat(MAX_RESPONSE_BYTES + 1) }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn get(url: String) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url,
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn calls_are_checked_at_every_hop() {
        let addr = service().await;
        let allowed = BotHttp::new(AllowList::parse(&["127.0.0.1"]).unwrap()).unwrap();
        let reply = allowed
            .call(&get(format!("http://{addr}/json")))
            .await
            .unwrap();
        assert_eq!(
            (reply.status, reply.body["status"].as_str()),
            (200, Some("shipped"))
        );
        let redirected = allowed
            .call(&get(format!("http://{addr}/redirect")))
            .await
            .unwrap_err();
        assert!(
            redirected.contains("127.0.0.2 is an internal address"),
            "{redirected}"
        );
        let big = allowed
            .call(&get(format!("http://{addr}/big")))
            .await
            .unwrap_err();
        assert!(big.contains("larger than 256 KB"), "{big}");

        let guarded = BotHttp::new(AllowList::default()).unwrap();
        let literal = guarded
            .call(&get(format!("http://{addr}/json")))
            .await
            .unwrap_err();
        assert!(
            literal.contains("127.0.0.1 is an internal address"),
            "{literal}"
        );
        // A name that resolves to loopback is refused at resolution, before connecting.
        let named = guarded
            .call(&get(format!("http://localhost:{}/json", addr.port())))
            .await
            .unwrap_err();
        assert!(named.contains("resolves to an internal address"), "{named}");
        let named_ok = BotHttp::new(AllowList::parse(&["localhost"]).unwrap())
            .unwrap()
            .call(&get(format!("http://localhost:{}/json", addr.port())))
            .await;
        // localhost may resolve to ::1 first, where the service does not listen; the
        // allow-list let it through the resolver either way.
        if let Err(e) = named_ok {
            assert!(!e.contains("internal address"), "{e}");
        }
        let scheme = guarded
            .call(&get("file:///etc/passwd".into()))
            .await
            .unwrap_err();
        assert!(scheme.contains("only http and https"), "{scheme}");
    }

    #[test]
    fn the_allow_list_opens_named_hosts_and_ranges() {
        let allow = AllowList::parse(&["inventory.lan", "10.1.0.0/16", "127.0.0.1"]).unwrap();
        assert!(allow.allows_name("Inventory.LAN."));
        assert!(allow.allows_ip(ip("10.1.200.3")));
        assert!(!allow.allows_ip(ip("10.2.0.1")));
        assert!(allow.allows_ip(ip("127.0.0.1")));
        assert!(AllowList::parse(&["10.0.0.0/40"]).is_err());
        assert!(AllowList::parse(&["http://x"]).is_err());
        let url = Url::parse("http://127.0.0.1:9/x").unwrap();
        assert!(check_url(&url, &allow).is_ok());
        assert!(check_url(&url, &AllowList::default()).is_err());
        let url = Url::parse("http://[::ffff:7f00:1]/").unwrap();
        assert!(check_url(&url, &AllowList::default()).is_err());
        assert!(check_url(&Url::parse("file:///etc/passwd").unwrap(), &allow).is_err());
    }
}
