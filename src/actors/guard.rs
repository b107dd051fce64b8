//! Panics in actors: caught, answered, and followed by a real restart.
//!
//! actix's supervisor restarts an actor only when its context stops. A panic
//! does not stop it: a panic in a handler unwinds through the actor's own
//! task (the actor is gone for good and `restarting` never runs), and a
//! panic in the future a handler returns ends only that future. So every
//! handler runs its work through [`guarded`], which catches both, answers
//! the message with the actor's "gone" answer, and stops the actor (in the
//! handler) or sends it [`Restart`] (from the future): the supervisor then
//! rebuilds its resources, and the next message is served.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler};
use futures_util::FutureExt;

use super::fault::Faults;
use super::{ActorKind, Restart};

/// A panic ended the work of a message. The message's request gets the
/// status of its actor being gone.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("{} actor panicked while handling the request", .actor.name())]
pub struct Panicked {
    pub actor: ActorKind,
}

/// An actor whose handlers run through [`guarded`].
pub trait Guarded: Actor<Context = Context<Self>> + Handler<Restart> {
    const KIND: ActorKind;
    /// The faults armed by a test (nothing in builds without the
    /// `fault-injection` feature).
    fn faults(&mut self) -> &mut Faults;
}

/// What a handler's work starts: the future that answers the message.
pub type Work<R> = Pin<Box<dyn Future<Output = R>>>;

/// Runs `work` (a handler's body, which returns the answer's future), and
/// answers `gone(Panicked)` instead if it or its future panics; the actor
/// is then restarted with freshly built resources.
pub fn guarded<A, R>(
    actor: &mut A,
    ctx: &mut Context<A>,
    gone: fn(Panicked) -> R,
    work: impl FnOnce(&mut A, &mut Context<A>) -> Work<R>,
) -> Work<R>
where
    A: Guarded,
    R: 'static,
{
    let panicked = Panicked { actor: A::KIND };
    let fault = actor.faults().take();
    let started = catch_unwind(AssertUnwindSafe(|| {
        fault.panic_in_handler();
        work(actor, ctx)
    }));
    let future = match started {
        Ok(future) => fault.panic_in_future(future),
        Err(payload) => {
            log::error!(
                "{} actor panicked in a handler ({}); restarting it",
                A::KIND.name(),
                describe(payload.as_ref())
            );
            // Stopping is what makes the supervisor restart the actor; the
            // messages waiting in its mailbox are kept for the new one.
            ctx.stop();
            return Box::pin(async move { gone(panicked) });
        }
    };
    let address = ctx.address();
    Box::pin(async move {
        match AssertUnwindSafe(future).catch_unwind().await {
            Ok(answer) => answer,
            Err(payload) => {
                log::error!(
                    "{} actor panicked while answering ({}); restarting it",
                    A::KIND.name(),
                    describe(payload.as_ref())
                );
                address.do_send(Restart);
                gone(panicked)
            }
        }
    })
}

/// The message a panic carried, if it is text.
fn describe(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
