//! The admin CLI, one file per command group (the shape of mini-redis's
//! `cmd/`): each file holds its clap subcommand enum, every argument with its
//! help text, and a `run(cmd, &App)` that does the work through the same
//! [`App`] context and stores as the web UI, so both keep the same rules and
//! the same audit log.

pub mod agent;
pub mod backup;
pub mod billing;
pub mod customer;
pub mod demo_data;
pub mod dispatch;
pub mod doctor;
pub mod import;
pub mod maintenance;
pub mod release;
pub mod rollout;
pub mod site;
pub mod stock;
pub mod token;
pub mod user;

use mast_controller::App;
use mast_controller::audit::Actor;

/// The audit actor of a CLI command: `cli:<operating-system user>` (the
/// invoking user under sudo), looked up from the real uid, never "unknown"
/// while the user exists.
pub fn actor() -> Actor {
    Actor { name: format!("cli:{}", os_user()), ip: None }
}

fn os_user() -> String {
    if let Ok(u) = std::env::var("SUDO_USER")
        && !u.is_empty()
    {
        return u;
    }
    // SAFETY: getuid(2) cannot fail; getpwuid_r(3) writes only into the
    // buffers we pass and sets `result` to null or to `pwd`.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
            && !result.is_null()
            && !pwd.pw_name.is_null()
        {
            return std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        }
        format!("uid{uid}")
    }
}

/// A secret from the terminal (asked twice) or one line of standard input.
pub fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ")?;
        let b = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(a == b, "the passwords differ");
        Ok(a)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// Today in the operator's time zone (config `timezone`).
pub fn today(app: &App) -> anyhow::Result<jiff::civil::Date> {
    Ok(jiff::Timestamp::now().to_zoned_datetime(app.tz().clone()).date())
}

pub fn date_or_today(app: &App, field: &str, v: Option<&str>) -> anyhow::Result<jiff::civil::Date> {
    match v {
        Some(s) => Ok(mast_controller::billing::store::parse_date(field, s)?),
        None => today(app),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cli_actor_names_the_os_user() {
        let a = super::actor();
        assert!(a.name.starts_with("cli:") && a.name.len() > 4 && !a.name.contains("unknown"), "{}", a.name);
    }
}
