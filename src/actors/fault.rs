//! Panics a test can arm in an actor, to prove that supervision really
//! restarts it. The message that arms them, [`InjectFault`], exists only
//! with the `fault-injection` feature, which `cargo test` turns on and
//! release builds never do; without it, [`Faults`] holds nothing and every
//! check here compiles to nothing.

use std::pin::Pin;

/// Where the next message's work panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// In the handler itself.
    InHandler,
    /// In the future the handler returns.
    InFuture,
    /// In the handler, and then in the restart that follows: the actor
    /// cannot be restarted.
    OnRestart,
}

/// The faults armed in one actor.
#[derive(Debug, Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    next: Option<Fault>,
    #[cfg(feature = "fault-injection")]
    restart_panics: bool,
}

/// The fault the current message is to suffer, if any.
#[derive(Debug, Clone, Copy)]
pub struct Armed(Option<Fault>);

impl Faults {
    /// Disarms the fault armed for the next message, and hands it over.
    pub fn take(&mut self) -> Armed {
        #[cfg(feature = "fault-injection")]
        {
            if self.next == Some(Fault::OnRestart) {
                self.restart_panics = true;
            }
            Armed(self.next.take())
        }
        #[cfg(not(feature = "fault-injection"))]
        Armed(None)
    }

    /// Called first in `restarting`: panics there when armed to.
    pub fn check_restart(&mut self) {
        #[cfg(feature = "fault-injection")]
        if std::mem::take(&mut self.restart_panics) {
            panic!("injected fault: the restart fails");
        }
    }

    #[cfg(feature = "fault-injection")]
    pub fn arm(&mut self, fault: Fault) {
        self.next = Some(fault);
    }
}

impl Armed {
    pub fn panic_in_handler(self) {
        if matches!(self.0, Some(Fault::InHandler | Fault::OnRestart)) {
            panic!("injected fault: the handler panics");
        }
    }

    pub fn panic_in_future<R: 'static>(
        self,
        future: Pin<Box<dyn Future<Output = R>>>,
    ) -> Pin<Box<dyn Future<Output = R>>> {
        if self.0 != Some(Fault::InFuture) {
            return future;
        }
        Box::pin(async move {
            // Panic once the work is under way, as a real bug would.
            tokio::task::yield_now().await;
            panic!("injected fault: the answer's future panics");
        })
    }
}

/// Arms `Fault` for the next message the actor handles (test builds only).
#[cfg(feature = "fault-injection")]
#[derive(Debug, actix::Message)]
#[rtype(result = "()")]
pub struct InjectFault(pub Fault);

/// `Handler<InjectFault>` for an actor with a `faults: Faults` field.
macro_rules! accepts_injected_faults {
    ($actor:ty) => {
        #[cfg(feature = "fault-injection")]
        impl actix::Handler<$crate::actors::fault::InjectFault> for $actor {
            type Result = ();
            fn handle(
                &mut self,
                $crate::actors::fault::InjectFault(fault): $crate::actors::fault::InjectFault,
                _: &mut actix::Context<Self>,
            ) {
                self.faults.arm(fault);
            }
        }
    };
}
pub(crate) use accepts_injected_faults;
