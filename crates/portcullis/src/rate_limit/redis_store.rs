//! GCRA in Redis: one atomic script per check, using Redis' own clock so that every instance
//! agrees on time. Unreachable Redis is reported to the caller, which then limits locally.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

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

/// Connection attempts after a failure are spaced at least this much.
const RECONNECT_EVERY_MS: i64 = 2_000;
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

pub struct RedisLimiter {
    client: redis::Client,
    prefix: String,
    script: redis::Script,
    connection: Mutex<Option<MultiplexedConnection>>,
    last_failure_ms: AtomicI64,
}

impl RedisLimiter {
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis_url: {e}"))?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            script: redis::Script::new(GCRA),
            connection: Mutex::new(None),
            last_failure_ms: AtomicI64::new(i64::MIN / 2),
        })
    }

    /// `Ok(None)`: allowed; `Ok(Some(wait))`: refused; `Err(())`: Redis is unreachable.
    pub async fn check(&self, key: &str, limit: Limit) -> Result<Option<Duration>, ()> {
        let mut connection = self.connection().await?;
        let interval_ms = i64::try_from((limit.period / limit.count.max(1)).as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let mut invocation = self.script.key(format!("{}:rl:{key}", self.prefix));
        invocation
            .arg(interval_ms)
            .arg(i64::from(limit.count.max(1)));
        let call = invocation.invoke_async::<i64>(&mut connection);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(0)) => Ok(None),
            Ok(Ok(wait_ms)) => Ok(Some(Duration::from_millis(
                u64::try_from(wait_ms).unwrap_or(1000),
            ))),
            Ok(Err(e)) => self.failed(&e.to_string()).await,
            Err(_) => self.failed("timed out").await,
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, ()> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        if monotonic_ms() - self.last_failure_ms.load(Ordering::Relaxed) < RECONNECT_EVERY_MS {
            return Err(());
        }
        let connect = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(CALL_TIMEOUT, connect).await {
            Ok(Ok(connection)) => {
                tracing::info!(
                    "rate limits: connected to Redis; limits are shared by every instance"
                );
                *slot = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(e)) => {
                drop(slot);
                self.failed(&e.to_string()).await
            }
            Err(_) => {
                drop(slot);
                self.failed("connection timed out").await
            }
        }
    }

    /// Forgets the connection, logs (at most every 10 s), and reports Redis as unreachable.
    async fn failed<T>(&self, reason: &str) -> Result<T, ()> {
        *self.connection.lock().await = None;
        let previous = self.last_failure_ms.swap(monotonic_ms(), Ordering::Relaxed);
        // Loud, but not once per request.
        if monotonic_ms() - previous > 10_000 {
            tracing::error!(
                reason,
                "rate limits: Redis unreachable; limiting per instance until it is back"
            );
        }
        Err(())
    }
}

/// Milliseconds on the process's monotonic clock: when to retry a connection is an operational
/// timer, not a rule about time, so it does not read the application clock.
fn monotonic_ms() -> i64 {
    static START: OnceLock<Instant> = OnceLock::new();
    i64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(i64::MAX)
}
