//! The run's signal handling: the first SIGINT, SIGTERM, SIGHUP or SIGQUIT cancels it with
//! grace, a second kills; a hangup points the console at `/dev/null`.

use crate::engine::{Control, Interrupt};

/// The run's first signal, stored by the signal handler itself (0: none yet): the engine
/// reads it while its thread is too busy to read the signal's [`Control`] message.
static FIRST_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Set once a SIGHUP arrived: console output may fail from then on, and is not an error.
pub(super) static HUNG_UP: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The first SIGINT, SIGTERM, SIGHUP or SIGQUIT cancels the run with grace (exit 128 + that
/// signal); any further one kills at once. A SIGHUP this process inherited as ignored
/// (`nohup`) stays ignored. After a hangup the terminal is gone: standard descriptors that
/// were a terminal (and stderr when a pipe or socket) are pointed at `/dev/null`, so
/// console writes neither fail nor block. Returns the first signal as the engine reads it
/// between messages ([`Interrupt`]).
pub(super) fn listen(tx: tokio::sync::mpsc::UnboundedSender<Control>) -> anyhow::Result<Interrupt> {
    use tokio::signal::unix::{SignalKind, signal};
    let hup_ignored = crate::sys::signals::is_ignored(libc::SIGHUP);
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut hup = if hup_ignored {
        None
    } else {
        Some(signal(SignalKind::hangup())?)
    };
    let mut caught = vec![libc::SIGINT, libc::SIGTERM, libc::SIGQUIT];
    if !hup_ignored {
        caught.push(libc::SIGHUP);
    }
    for sig in caught {
        crate::sys::signals::record_first(sig, &FIRST_SIGNAL)?;
    }
    let ttys: Vec<bool> = [0, 1, 2]
        .iter()
        .map(|&fd| crate::sys::fd::is_tty(fd))
        .collect();
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            let signal = tokio::select! {
                s = int.recv() => s.map(|()| libc::SIGINT),
                s = term.recv() => s.map(|()| libc::SIGTERM),
                s = quit.recv() => s.map(|()| libc::SIGQUIT),
                s = hangup => s.map(|()| libc::SIGHUP),
            };
            let Some(signal) = signal else { return };
            if signal == libc::SIGHUP {
                HUNG_UP.store(true, std::sync::atomic::Ordering::Relaxed);
                for (fd, &tty) in ttys.iter().enumerate() {
                    let fd = fd as i32;
                    if tty || (fd == 2 && crate::sys::fd::is_console_like(fd)) {
                        crate::sys::fd::redirect_to_null(fd);
                    }
                }
            }
            seen += 1;
            let c = if seen == 1 {
                Control::Cancel { signal }
            } else {
                Control::Kill
            };
            if tx.send(c).is_err() {
                return;
            }
        }
    });
    Ok(Interrupt::new(&FIRST_SIGNAL))
}
