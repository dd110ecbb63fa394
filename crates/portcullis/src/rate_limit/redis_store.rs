//! GCRA in Redis: one atomic script per check, using Redis' own clock so that every instance
//! agrees on time. An unreachable, slow or frozen Redis is reported to the caller at once, which
//! then limits locally (see `RedisLimiter`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;

use super::settings::Limit;

/// The theoretical arrival time (TAT) moves one emission interval per request; a request is
/// refused while the TAT is more than `burst` intervals ahead of now.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1)
return 0
";

/// How long a limit check may wait for Redis. On loopback or a LAN a GCRA call takes well under
/// a millisecond; a call that takes longer than this is a sick Redis, and the request goes on with
/// the local limiter.
const CALL_DEADLINE: Duration = Duration::from_millis(100);
/// A probe's connection attempt may take longer: no request waits for it.
const PROBE_DEADLINE: Duration = Duration::from_secs(1);
/// Probes after a failure, doubling up to the maximum.
const PROBE_FIRST_WAIT: Duration = Duration::from_millis(250);
const PROBE_MAX_WAIT: Duration = Duration::from_secs(5);
/// An unreachable Redis is logged loudly, but at most this often.
const REPORT_EVERY_MS: i64 = 10_000;

/// The shared limiter behind a circuit breaker. While the breaker is closed, a check is one
/// script call with a short deadline. The first call that fails or runs past it opens the
/// breaker: from then on every check answers "unreachable" at once (the caller limits locally),
/// and one background probe reconnects, with backoff, until Redis answers a PING; then the breaker
/// closes. No request ever waits more than one deadline for Redis, and a frozen Redis costs the
/// requests that were already waiting on it and nothing more.
pub struct RedisLimiter {
    client: redis::Client,
    prefix: String,
    script: redis::Script,
    /// `Some` while the breaker is closed.
    connection: RwLock<Option<MultiplexedConnection>>,
    probing: AtomicBool,
    last_report_ms: AtomicI64,
}

impl RedisLimiter {
    /// Connects (waiting at most one probe deadline); if Redis does not answer, starts limiting
    /// locally and keeps probing in the background.
    pub async fn start(url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
        let limiter = Arc::new(Self {
            client,
            prefix: prefix.to_owned(),
            script: redis::Script::new(GCRA),
            connection: RwLock::new(None),
            probing: AtomicBool::new(false),
            last_report_ms: AtomicI64::new(i64::MIN / 2),
        });
        match limiter.connect().await {
            Ok(connection) => limiter.close_breaker(connection),
            Err(reason) => limiter.open_breaker(&reason),
        }
        Ok(limiter)
    }

    /// `Ok(None)`: allowed; `Ok(Some(wait))`: refused; `Err(())`: Redis is unreachable (the
    /// breaker is open, or this call failed and opened it).
    pub async fn check(self: &Arc<Self>, key: &str, limit: Limit) -> Result<Option<Duration>, ()> {
        let Some(mut connection) = self.connection() else {
            return Err(());
        };
        let interval_ms = i64::try_from((limit.period / limit.count.max(1)).as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let mut invocation = self.script.key(format!("{}:rl:{key}", self.prefix));
        invocation
            .arg(interval_ms)
            .arg(i64::from(limit.count.max(1)));
        let call = invocation.invoke_async::<i64>(&mut connection);
        match tokio::time::timeout(CALL_DEADLINE, call).await {
            Ok(Ok(0)) => Ok(None),
            Ok(Ok(wait_ms)) => Ok(Some(Duration::from_millis(
                u64::try_from(wait_ms).unwrap_or(1000),
            ))),
            Ok(Err(e)) => {
                self.open_breaker(&e.to_string());
                Err(())
            }
            Err(_) => {
                self.open_breaker("no answer within the deadline");
                Err(())
            }
        }
    }

    fn connection(&self) -> Option<MultiplexedConnection> {
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let attempt = async {
            let mut connection = self
                .client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map_err(|e| e.to_string())?;
            Ok(connection)
        };
        tokio::time::timeout(PROBE_DEADLINE, attempt)
            .await
            .unwrap_or_else(|_| Err("no answer within the deadline".to_owned()))
    }

    fn close_breaker(&self, connection: MultiplexedConnection) {
        *self.connection.write().unwrap_or_else(|e| e.into_inner()) = Some(connection);
        tracing::info!("rate limits: connected to Redis; limits are shared by every instance");
    }

    /// Sends every check to the local limiter and starts the probe (if none runs).
    fn open_breaker(self: &Arc<Self>, reason: &str) {
        *self.connection.write().unwrap_or_else(|e| e.into_inner()) = None;
        let previous = self.last_report_ms.load(Ordering::Relaxed);
        if monotonic_ms() - previous > REPORT_EVERY_MS {
            self.last_report_ms.store(monotonic_ms(), Ordering::Relaxed);
            tracing::error!(
                reason,
                "rate limits: Redis unreachable; limiting per instance until it is back"
            );
        }
        if self.probing.swap(true, Ordering::SeqCst) {
            return;
        }
        let limiter = Arc::clone(self);
        tokio::spawn(async move { limiter.probe_until_answered().await });
    }

    async fn probe_until_answered(self: Arc<Self>) {
        let mut wait = PROBE_FIRST_WAIT;
        loop {
            tokio::time::sleep(wait).await;
            match self.connect().await {
                Ok(connection) => {
                    self.close_breaker(connection);
                    self.probing.store(false, Ordering::SeqCst);
                    return;
                }
                Err(_) => wait = (wait * 2).min(PROBE_MAX_WAIT),
            }
        }
    }
}

/// Milliseconds on the process's monotonic clock: when to report is an operational timer, not a
/// rule about time, so it does not read the application clock.
fn monotonic_ms() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    i64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(i64::MAX)
}
