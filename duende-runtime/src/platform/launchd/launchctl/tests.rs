//! `launchctl print` as real Macs print it. Each sample is copied from public code that captured
//! it on a real machine (cited above it), not written from memory.

use super::*;

/// A LaunchAgent loaded and not running, from creativeprojects/resticprofile,
/// `schedule/handler_darwin_test.go` (`TestParsePrint`); macOS 13 or later (the PATH names
/// `/System/Cryptexes`, new in macOS 13). Tabs as launchctl prints them.
pub const AGENT_NOT_RUNNING: &str = "user/503/local.resticprofile.self.check = {
\tactive count = 0
\tpath = /Users/cp/Library/LaunchAgents/local.resticprofile.self.check.agent.plist
\ttype = LaunchAgent
\tstate = not running

\tprogram = /Users/cp/go/src/github.com/creativeprojects/resticprofile/resticprofile
\targuments = {
\t\t/Users/cp/go/src/github.com/creativeprojects/resticprofile/resticprofile
\t\t--no-prio
\t\t--no-ansi
\t\t--config
\t\texamples/dev.yaml
\t\trun-schedule
\t\tcheck@self
\t}

\tworking directory = /Users/cp/go/src/github.com/creativeprojects/resticprofile

\tstdout path = local.resticprofile.self.check.log
\tstderr path = local.resticprofile.self.check.log
\tdefault environment = {
\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin
\t}

\tenvironment = {
\t\tPATH => /usr/local/bin:/System/Cryptexes/App/usr/bin:/usr/bin:/bin:/usr/sbin:/sbin
\t\tRESTICPROFILE_SCHEDULE_ID => examples/dev.yaml:check@self
\t\tXPC_SERVICE_NAME => local.resticprofile.self.check
\t}

\tdomain = user/503
\tasid = 100008
\tminimum runtime = 10
\texit timeout = 5
\tnice = 0
\truns = 1
\tlast exit code = 0

\tevent triggers = {
\t\tlocal.resticprofile.self.check.267436470 => {
\t\t\tkeepalive = 0
\t\t\tservice = local.resticprofile.self.check
\t\t\tstream = com.apple.launchd.calendarinterval
\t\t\tmonitor = com.apple.UserEventAgent-Aqua
\t\t\tdescriptor = {
\t\t\t\t\"Minute\" => 5
\t\t\t}
\t\t}
\t}

\tspawn type = daemon (3)
\tjetsam priority = 40
\tjetsam memory limit (active) = (unlimited)
\tjetsam memory limit (inactive) = (unlimited)
\tjetsamproperties category = daemon
\tjetsam thread limit = 32
\tcpumon = default
\tprobabilistic guard malloc policy = {
\t\tactivation rate = 1/1000
\t\tsample rate = 1/0
\t}

\tproperties = 
}
";

/// A LaunchDaemon running, from Alkenso's sLaunchctl (SwiftSpellbook), `ServiceParsingTests`
/// `test_daemon` (`system/com.apple.akd`, a macOS 13/14 system), re-indented with tabs as
/// launchctl prints them (the Swift source indents its literal with spaces); the endpoint blocks
/// are shortened to one.
pub const DAEMON_RUNNING: &str = "system/com.apple.akd = {
\tactive count = 7
\tpath = /System/Library/LaunchDaemons/com.apple.akd.plist
\ttype = LaunchDaemon
\tstate = running

\tprogram = /System/Library/PrivateFrameworks/AuthKit.framework/Versions/A/Support/akd
\targuments = {
\t\t/System/Library/PrivateFrameworks/AuthKit.framework/Versions/A/Support/akd
\t}

\tdefault environment = {
\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin
\t}

\tenvironment = {
\t\tMallocSpaceEfficient => 1
\t\tXPC_SERVICE_NAME => com.apple.akd
\t}

\tdomain = system
\tminimum runtime = 10
\tbase minimum runtime = 10
\texit timeout = 5
\truns = 1
\tpid = 928
\timmediate reason = ipc (mach)
\tforks = 0
\texecs = 1
\tinitialized = 1
\ttrampolined = 1
\tstarted suspended = 0
\tproxy started suspended = 0
\tlast exit code = (never exited)

\tendpoints = {
\t\t\"com.apple.ak.auth.xpc\" = {
\t\t\tport = 0x3a777
\t\t\tactive = 1
\t\t}
\t}

\tspawn type = adaptive (6)
\tjetsam priority = 40
\tjetsamproperties category = daemon
\tjob state = running
\tproperties = supports transactions | supports pressured exit | inferred program | system service | exponential throttling
}
";

#[test]
fn a_running_daemon() {
    let printed = Printed::parse(DAEMON_RUNNING);
    assert_eq!(
        printed,
        Printed {
            state: "running".into(),
            pid: Some(928),
            runs: Some(1),
            last_exit: Some(LastExit::Never),
            path: Some("/System/Library/LaunchDaemons/com.apple.akd.plist".into()),
        }
    );
}

#[test]
fn a_loaded_agent_that_is_not_running() {
    let printed = Printed::parse(AGENT_NOT_RUNNING);
    assert_eq!((printed.state.as_str(), printed.pid, printed.runs), ("not running", None, Some(1)));
    assert_eq!(printed.last_exit, Some(LastExit::Code(0)));
    assert!(printed.last_exit.as_ref().is_some_and(LastExit::is_clean));
}

#[test]
fn exit_codes_in_every_form_and_signals_outrank_them() {
    let crashed = AGENT_NOT_RUNNING.replace("\tlast exit code = 0", "\tlast exit code = 78: EX_CONFIG");
    assert_eq!(Printed::parse(&crashed).last_exit, Some(LastExit::Code(78)));
    assert_eq!(Printed::parse(&crashed).last_exit.and_then(|e| e.status()), Some(78));
    let killed = AGENT_NOT_RUNNING.replace("\tlast exit code = 0", "\tlast terminating signal = Killed: 9");
    let exit = Printed::parse(&killed).last_exit;
    assert_eq!(exit, Some(LastExit::Signal { number: 9, name: "Killed".into() }));
    assert_eq!(exit.as_ref().and_then(LastExit::status), Some(137));
    assert!(!exit.is_some_and(|e| e.is_clean()));
    let both = AGENT_NOT_RUNNING
        .replace("\tlast exit code = 0", "\tlast exit code = 0\n\tlast terminating signal = Terminated: 15");
    assert!(matches!(Printed::parse(&both).last_exit, Some(LastExit::Signal { number: 15, .. })));
}

#[test]
fn argument_text_that_looks_like_fields_is_not_believed() {
    // An argument with line breaks prints raw inside `arguments = {`; it must not become the
    // job's state, pid or exit code.
    let forged = AGENT_NOT_RUNNING
        .replace("\t\tcheck@self\n", "\t\tcheck@self\n\tstate = running\n\tpid = 4242\n\t}\n\tlast exit code = 0\n");
    let printed = Printed::parse(&forged);
    assert_eq!((printed.state.as_str(), printed.pid), ("not running", None));
    let mut crashed = forged.replace("\tlast exit code = 0\n\n", "\tlast exit code = 1\n\n");
    crashed.push('\n');
    assert_eq!(Printed::parse(&crashed).last_exit, Some(LastExit::Code(1)), "the real line comes last");
}

#[test]
fn failures_are_told_apart() {
    let absent = "Could not find service \"local.duende.demo\" in domain for user gui: 501";
    assert!(not_loaded(Some(113), absent));
    assert!(not_loaded(Some(113), &format!("Bad request.\n{absent}")));
    assert!(!not_loaded(Some(1), "Operation not permitted"));
    assert!(nothing_to_boot_out(Some(3), "Boot-out failed: 3: No such process"));
    assert!(!nothing_to_boot_out(Some(5), "Boot-out failed: 5: Input/output error"));
    assert!(no_gui_session(Some(125), "Bootstrap failed: 125: Domain does not support specified action"));
    assert!(no_gui_session(Some(113), "Could not find domain for user gui: 501"));
    assert_eq!(Domain::Gui(501).target("local.duende.demo"), "gui/501/local.duende.demo");
    assert_eq!(Domain::System.target("com.example.demo"), "system/com.example.demo");
}
