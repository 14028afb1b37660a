//! Entry point of `hog`, the guest-side helper of the VM lab: dispatches to the mode
//! named by the first argument (see `hog --help` / args::USAGE).

mod args;
mod grow;
mod init;
mod modes;
mod stamp;
mod sys;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let o = args::parse(&argv);
    match o.mode.as_str() {
        "grow" => grow::run(&o),
        "idle" => modes::idle(&o),
        "zombie" => modes::zombie(&o),
        "heartbeat" => modes::heartbeat(&o),
        "thrash" => modes::thrash(&o),
        "sample" => modes::sample(&o),
        "stamp" => stamp::run(&o),
        "init" => init::run(&o),
        "now" => println!("{}", sys::now_ms()),
        other => sys::die(&format!("unknown mode '{other}'\n{}", args::USAGE)),
    }
}
