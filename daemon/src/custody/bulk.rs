//! Threads for bulk work: one per two cores for CPU jobs (verifying large batches of ROUTINE
//! and PRIORITY offers and signing large batches of such submissions), and a runtime with one
//! worker per core that decides on large batches of ROUTINE and PRIORITY offers. They run at a lower
//! scheduling priority than the threads that carry FLASH and IMMEDIATE traffic (the async
//! workers, tokio's blocking pool and the store thread), so that on a busy machine an urgent
//! message is verified, stored and forwarded while a ROUTINE flood waits, instead of taking
//! turns with it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use bluehelm_proto::Precedence;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Handle to the bulk threads; they end when the handle is dropped. They are not joined: a
/// job is CPU work on values it owns (no file, no store), and a thread that ends after the
/// node has stopped loses only the answer nobody waits for any more.
pub struct Bulk {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Decides on large batches of ROUTINE and PRIORITY offers (everything but the fsync) at
    /// the bulk threads' priority. `None` only while dropping.
    streams: Option<tokio::runtime::Runtime>,
}

impl Drop for Bulk {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which an async caller must not do;
        // its tasks hold streams and in-memory batches only.
        if let Some(runtime) = self.streams.take() {
            runtime.shutdown_background();
        }
    }
}

/// Bulk threads for a machine with `cores` cores: half of them (at least one), so that a flood
/// of ROUTINE signature work leaves cores to urgent traffic and the links. On 2 cores, two bulk
/// threads made FLASH slower under a backlog (`flash-under-backlog` p50 3.3-3.9 ms against
/// 2.6-2.8 ms with one; docs/performance.md) and carried no more.
pub fn threads_for(cores: usize) -> usize {
    (cores / 2).max(1)
}

/// How much lower than the node's other threads the bulk threads run (Linux nice, per thread):
/// as low as it goes. At 10, FLASH p99 under a backlog was 9.1-12.7 ms (median 10.8, 6 runs),
/// at 19 6.7-16.1 ms (median 7.7), with the same throughput. ROUTINE work then waits whenever
/// anything else on the machine wants the CPU.
const BULK_NICE: i32 = 19;

impl Bulk {
    /// Whether work on messages of this class belongs on the bulk threads (when the batch is
    /// large): not for FLASH or IMMEDIATE, which must not queue behind a flood.
    pub fn takes(precedence: Precedence) -> bool {
        matches!(precedence, Precedence::Routine | Precedence::Priority)
    }

    /// Starts `threads` bulk threads (at least one) sharing one queue of jobs.
    pub fn start(threads: usize, stream_workers: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("bluehelm-bulk".into())
                .spawn(move || {
                    lower_current_thread_by(BULK_NICE);
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(job) = next else { return };
                        // A job that panics fails alone (its caller gets `None`); the thread
                        // serves the next one.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a bulk job panicked; its batch was not processed");
                        }
                    }
                })?;
        }
        let streams = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(stream_workers.max(1))
            .thread_name("bluehelm-bulk-io")
            .on_thread_start(|| lower_current_thread_by(BULK_NICE))
            .enable_all()
            .build()?;
        Ok(Self {
            jobs: Mutex::new(jobs),
            streams: Some(streams),
        })
    }

    /// Runs `task` on the bulk runtime, below the priority of the node's other threads.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.streams {
            Some(runtime) => runtime.spawn(task),
            None => tokio::spawn(task),
        }
    }

    /// Runs `work` on a bulk thread; `None` if `work` panicked (the threads live as long as
    /// this handle).
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        let sent = {
            let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.send(job).is_ok()
        };
        if !sent {
            return None;
        }
        result.await.ok()
    }
}

/// Makes the calling thread `by` nice levels nicer than it is (at most 19): relative, so that a
/// node started with a nice value keeps its bulk work below its other threads. Linux only
/// (there nice is per thread); best effort: a thread that cannot lower its priority runs as
/// it is.
fn lower_current_thread_by(by: i32) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered = getpriority_process(me)
            .and_then(|now| setpriority_process(me, now.saturating_add(by).min(19)));
        if let Err(err) = lowered {
            tracing::debug!(error = %err, "cannot lower the bulk thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = by;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_survives_a_job_that_panics() {
        let bulk = Bulk::start(1, 1).unwrap();
        assert_eq!(bulk.run(|| 6 * 7).await, Some(42));
        assert_eq!(
            bulk.run(|| -> u8 { panic!("a bug in one job") }).await,
            None
        );
        assert_eq!(bulk.run(|| "still serving").await, Some("still serving"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn runs_below_the_priority_of_the_node_s_other_threads() {
        let bulk = Bulk::start(1, 1).unwrap();
        let ours = rustix::process::getpriority_process(None).unwrap();
        let theirs = bulk
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap())
            .await
            .unwrap();
        assert_eq!(theirs, (ours + BULK_NICE).min(19));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn tasks_spawned_on_the_bulk_runtime_run_below_the_node_s_other_threads() {
        let bulk = Bulk::start(1, 2).unwrap();
        let ours = rustix::process::getpriority_process(None).unwrap();
        let task = bulk.spawn(async {
            tokio::task::yield_now().await;
            let me = Some(rustix::thread::gettid());
            let name = std::thread::current().name().map(str::to_owned);
            (rustix::process::getpriority_process(me).unwrap(), name)
        });
        let (theirs, name) = task.await.unwrap();
        assert_eq!(theirs, (ours + BULK_NICE).min(19));
        assert_eq!(name.as_deref(), Some("bluehelm-bulk-io"));
        // Dropping the handle from async code stops the runtime without blocking.
        drop(bulk);
    }

    #[test]
    fn takes_half_the_cores() {
        assert_eq!([1, 2, 3, 4, 16].map(threads_for), [1, 1, 1, 2, 8]);
    }

    #[tokio::test]
    async fn runs_jobs_side_by_side_on_several_threads() {
        let bulk = Arc::new(Bulk::start(2, 1).unwrap());
        // Each job waits for the other: both finish only if two threads run them at once.
        let meet = Arc::new(std::sync::Barrier::new(2));
        let job = |meet: Arc<std::sync::Barrier>| move || meet.wait().is_leader();
        let both = async { tokio::join!(bulk.run(job(meet.clone())), bulk.run(job(meet))) };
        let (a, b) = tokio::time::timeout(std::time::Duration::from_secs(10), both)
            .await
            .expect("two bulk threads run two jobs at once");
        assert_eq!([a, b].iter().filter(|r| **r == Some(true)).count(), 1);
    }
}
