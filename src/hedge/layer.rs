//! [`HedgeLayer`]: hedging as a tower layer (feature `hedge-tower`).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::sync::Arc;
use std::vec::Vec;

use super::{Clock, Hedge};
use crate::{AllFailed, Timer};

type CloneBox<Req> = Arc<dyn Fn(&Req) -> Option<Req> + Send + Sync>;

/// A [`tower_layer::Layer`] that hedges a [`tower_service::Service`] with a [`Hedge`] policy:
/// its service sends each eligible request once more (up to
/// [`max_hedges`](Hedge::max_hedges) times) when the primary is slow or fails, and answers
/// with the first success (or first completion, per [`Win`](super::Win)).
///
/// Hedges need copies of the request: [`new`](Self::new) clones it; [`with_clone`](Self::with_clone)
/// takes a hook, as tower's `Policy::clone_request` (`None`: this request is not hedged). The
/// copies are made when the request comes in (`max_hedges` of them, for eligible requests),
/// as tower does.
///
/// # Readiness
///
/// [`poll_ready`](tower_service::Service::poll_ready) is the inner service's: the caller's
/// back-pressure holds for the primary, which is sent on the service that was made ready, as
/// tower requires. A hedge runs on a clone of the service and waits for that clone's
/// `poll_ready` inside its attempt, so a service that is not ready delays the hedge (the wait
/// counts in its latency), never the primary, and a hedge that never gets ready never
/// answers while the primary still can win. An error from `poll_ready` of a hedge's clone is
/// that attempt's error. The inner service must be `Clone` (as for tower's `hedge`): wrap it
/// in `tower::buffer::Buffer` if it is not.
///
/// # The response future
///
/// A boxed future, `Send + 'static` (so the service, its future, the request, the response
/// and the error must be `Send + 'static`, as for tower's `hedge`); it runs the race in the
/// caller's task (nothing is spawned), and dropping it drops every attempt at once. Its error
/// is [`AllFailed`]: every attempt's error, in start order.
///
/// ```
/// use std::time::Duration;
/// use staggered::{hedge::{Hedge, HedgeLayer}, timer::TokioTimer};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// #[derive(Clone)]
/// struct Echo;
/// impl Service<String> for Echo {
///     type Response = String;
///     type Error = std::io::Error;
///     type Future = std::future::Ready<Result<String, std::io::Error>>;
///     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
///         std::task::Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, request: String) -> Self::Future {
///         std::future::ready(Ok(request))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = HedgeLayer::new(Hedge::fixed(Duration::from_millis(50)), TokioTimer);
/// let mut service = layer.layer(Echo);
/// std::future::poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
/// assert_eq!(service.call("hi".to_owned()).await.unwrap(), "hi");
/// # }
/// ```
pub struct HedgeLayer<Req, Tm> {
    hedge: Hedge,
    timer: Tm,
    clone: CloneBox<Req>,
}

impl<Req, Tm: Clone> Clone for HedgeLayer<Req, Tm> {
    fn clone(&self) -> Self {
        HedgeLayer {
            hedge: self.hedge.clone(),
            timer: self.timer.clone(),
            clone: self.clone.clone(),
        }
    }
}

impl<Req, Tm> std::fmt::Debug for HedgeLayer<Req, Tm> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("hedge", &self.hedge)
            .finish_non_exhaustive()
    }
}

impl<Req: Clone, Tm> HedgeLayer<Req, Tm> {
    /// Hedges with `hedge` on `timer` (which also measures latencies: see [`Clock`]),
    /// copying requests with `Clone`.
    ///
    /// An example is on the [type](Self).
    pub fn new(hedge: Hedge, timer: Tm) -> Self {
        Self::with_clone(hedge, timer, |request: &Req| Some(request.clone()))
    }
}

impl<Req, Tm> HedgeLayer<Req, Tm> {
    /// Hedges with `hedge` on `timer`, copying requests with `clone` (`None`: this request is
    /// not hedged; it is called up to `max_hedges` times per eligible request, when it comes
    /// in). A panic in it reaches the caller of `call`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use staggered::{hedge::{Hedge, HedgeLayer}, timer::TokioTimer};
    ///
    /// struct Request { body: Vec<u8>, streaming: bool }
    /// let layer = HedgeLayer::with_clone(Hedge::fixed(Duration::from_millis(50)), TokioTimer, |r: &Request| {
    ///     (!r.streaming).then(|| Request { body: r.body.clone(), streaming: false })
    /// });
    /// # let _ = layer;
    /// ```
    pub fn with_clone(
        hedge: Hedge,
        timer: Tm,
        clone: impl Fn(&Req) -> Option<Req> + Send + Sync + 'static,
    ) -> Self {
        HedgeLayer {
            hedge,
            timer,
            clone: Arc::new(clone),
        }
    }
}

impl<S, Req, Tm: Clone> tower_layer::Layer<S> for HedgeLayer<Req, Tm> {
    type Service = HedgeService<S, Req, Tm>;

    fn layer(&self, inner: S) -> Self::Service {
        HedgeService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`HedgeLayer`]: see there.
///
/// ```
/// use std::time::Duration;
/// use staggered::hedge::{Hedge, HedgeLayer, HedgeService};
/// use staggered::testing::ManualClock;
/// use tower_layer::Layer;
/// use tower_service::Service;
/// # #[derive(Clone)]
/// # struct Echo;
/// # impl tower_service::Service<u32> for Echo {
/// #     type Response = u32;
/// #     type Error = std::io::Error;
/// #     type Future = std::future::Ready<Result<u32, std::io::Error>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), std::io::Error>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, n: u32) -> Self::Future { std::future::ready(Ok(n)) }
/// # }
///
/// let clock = ManualClock::new();
/// let layer = HedgeLayer::new(Hedge::fixed(Duration::from_millis(5)), clock.clone());
/// let mut service: HedgeService<Echo, u32, ManualClock> = layer.layer(Echo);
/// let answer = clock.block_on(async {
///     std::future::poll_fn(|cx| service.poll_ready(cx)).await.unwrap();
///     service.call(7).await
/// });
/// assert_eq!(answer.unwrap(), 7);
/// ```
pub struct HedgeService<S, Req, Tm> {
    inner: S,
    layer: HedgeLayer<Req, Tm>,
}

impl<S: Clone, Req, Tm: Clone> Clone for HedgeService<S, Req, Tm> {
    fn clone(&self) -> Self {
        HedgeService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: std::fmt::Debug, Req, Tm> std::fmt::Debug for HedgeService<S, Req, Tm> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HedgeService")
            .field("inner", &self.inner)
            .field("hedge", &self.layer.hedge)
            .finish_non_exhaustive()
    }
}

/// The response future of a [`HedgeService`]: the whole hedged call, boxed. Dropping it drops
/// every attempt.
///
/// ```
/// use std::time::Duration;
/// use staggered::hedge::{Hedge, HedgeLayer, ResponseFuture};
/// use staggered::testing::ManualClock;
/// use tower_layer::Layer;
/// use tower_service::Service;
/// # #[derive(Clone)]
/// # struct Echo;
/// # impl tower_service::Service<u32> for Echo {
/// #     type Response = u32;
/// #     type Error = std::io::Error;
/// #     type Future = std::future::Ready<Result<u32, std::io::Error>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), std::io::Error>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, n: u32) -> Self::Future { std::future::ready(Ok(n)) }
/// # }
///
/// let clock = ManualClock::new();
/// let mut service = HedgeLayer::new(Hedge::fixed(Duration::from_millis(5)), clock.clone()).layer(Echo);
/// let response: ResponseFuture<u32, std::io::Error> = service.call(7);
/// drop(response); // nothing was polled: no attempt ever started
/// ```
pub type ResponseFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, AllFailed<E>>> + Send>>;

impl<S, Req, Tm> tower_service::Service<Req> for HedgeService<S, Req, Tm>
where
    S: tower_service::Service<Req> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
    Req: Send + 'static,
    Tm: Timer + Clock + Clone + Send + Sync + 'static,
    Tm::Sleep: Send,
{
    type Response = S::Response;
    type Error = AllFailed<S::Error>;
    type Future = ResponseFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(|e| AllFailed::new(std::vec![e]))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        // The service made ready goes to the primary; this one keeps a fresh clone.
        let clone = self.inner.clone();
        let mut ready = Some(core::mem::replace(&mut self.inner, clone));
        let spare = self.inner.clone();
        let hedge = self.layer.hedge.clone();
        let timer = self.layer.timer.clone();
        let mut copies: Vec<Req> = Vec::new();
        if hedge.is_eligible(&request) {
            for _ in 0..hedge.max_hedges {
                match (self.layer.clone)(&request) {
                    Some(copy) => copies.push(copy),
                    None => break,
                }
            }
        }
        let hedges = copies.len();
        copies.reverse();
        copies.push(request); // popped first: the primary
        Box::pin(async move {
            let make = move || {
                let request = copies.pop().expect("one request per attempt");
                let (mut service, is_ready) = match ready.take() {
                    Some(service) => (service, true),
                    None => (spare.clone(), false),
                };
                async move {
                    if !is_ready {
                        core::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                    }
                    service.call(request).await
                }
            };
            hedge
                .run(hedges, timer, make)
                .await
                .into_result()
                .map(|(_, response)| response)
        })
    }
}
