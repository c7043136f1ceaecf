//! A thread for bulk CPU work: verifying large batches of ROUTINE and PRIORITY offers and
//! signing large batches of such submissions. It runs at a lower scheduling priority than the
//! threads that carry FLASH and IMMEDIATE traffic (the async workers, tokio's blocking pool
//! and the store thread), so that on a busy machine an urgent message is verified, stored and
//! forwarded while a ROUTINE flood waits, instead of taking turns with it.

use std::sync::mpsc;
use std::sync::Mutex;

use bluehelm_proto::Precedence;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Handle to the bulk thread; the thread ends when the handle is dropped.
pub struct Bulk {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// How much lower than the node's other threads the bulk thread runs (Linux nice, per thread).
const BULK_NICE: i32 = 10;

impl Bulk {
    /// Whether work on messages of this class belongs on the bulk thread (when the batch is
    /// large): not for FLASH or IMMEDIATE, which must not queue behind a flood.
    pub fn takes(precedence: Precedence) -> bool {
        matches!(precedence, Precedence::Routine | Precedence::Priority)
    }

    pub fn start() -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("bluehelm-bulk".into())
            .spawn(move || {
                crate::priority::lower_current_thread_by(BULK_NICE);
                while let Ok(job) = queue.recv() {
                    // A job that panics fails alone (its caller gets `None`); the thread
                    // serves the next one.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a bulk job panicked; its batch was not processed");
                    }
                }
            })?;
        Ok(Self {
            jobs: Mutex::new(jobs),
        })
    }

    /// Runs `work` on the bulk thread; `None` if `work` panicked (the thread lives as long as
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_and_survives_a_job_that_panics() {
        let bulk = Bulk::start().unwrap();
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
        let bulk = Bulk::start().unwrap();
        let ours = rustix::process::getpriority_process(None).unwrap();
        let theirs = bulk
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap())
            .await
            .unwrap();
        assert_eq!(theirs, (ours + BULK_NICE).min(19));
    }
}
