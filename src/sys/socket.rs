//! Sockets: creation (always CLOEXEC), addresses, options, and SCM_RIGHTS.

use core::mem::{size_of, zeroed};

use super::fd::{Fd, RawFd};
use super::{cvt, cvt_size, retry, Errno, SysResult};

/// A socket address of any family, as the kernel takes it. Built only by
/// its constructors and `getsockname`, so its length never exceeds its
/// storage (`same` and the syscalls read `len` bytes of it).
///
/// ```compile_fail
/// let mut a = gracefd::sys::socket::SockAddr::empty();
/// a.len = 100_000; // private: same() would read past the storage
/// ```
#[derive(Clone, Copy)]
pub struct SockAddr {
    /// The raw storage.
    storage: libc::sockaddr_storage,
    /// How many bytes of `storage` are the address (at most its size).
    len: libc::socklen_t,
}

/// The size of `sockaddr_storage`, the most a `len` may be.
const STORAGE_LEN: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl SockAddr {
    /// An empty address (for out-params).
    pub fn empty() -> SockAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        SockAddr { storage: unsafe { zeroed() }, len: size_of::<libc::sockaddr_storage>() as libc::socklen_t }
    }

    /// How many bytes of the storage are the address.
    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// Whether the address is empty (no bytes; only from a kernel that
    /// returned none).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address family.
    pub fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    /// IPv4 `ip:port`.
    pub(crate) fn v4(ip: [u8; 4], port: u16) -> SockAddr {
        let mut a = SockAddr::empty();
        // SAFETY: sockaddr_in fits in sockaddr_storage and is plain data.
        let sin = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_in) };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from_ne_bytes(ip);
        a.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        a
    }

    /// IPv6 `[ip%scope]:port`.
    pub fn v6(ip: [u8; 16], port: u16, scope_id: u32) -> SockAddr {
        let mut a = SockAddr::empty();
        // SAFETY: sockaddr_in6 fits in sockaddr_storage and is plain data.
        let sin6 = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_in6) };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = port.to_be();
        sin6.sin6_addr.s6_addr = ip;
        sin6.sin6_scope_id = scope_id;
        a.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        a
    }

    /// A unix address. `abstract_ns` puts a NUL first (Linux abstract namespace);
    /// the length is `offsetof(sun_path) + len` (+1 for the path form's NUL).
    /// EINVAL if `path` contains NUL; ENAMETOOLONG if it does not fit.
    pub fn unix(path: &[u8], abstract_ns: bool) -> SysResult<SockAddr> {
        if path.contains(&0) {
            return Err(Errno(libc::EINVAL));
        }
        let mut a = SockAddr::empty();
        // SAFETY: sockaddr_un fits in sockaddr_storage and is plain data.
        let sun = unsafe { &mut *(&mut a.storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let cap = sun.sun_path.len();
        let start = usize::from(abstract_ns);
        // path form needs room for its NUL; abstract form does not.
        let need = start + path.len() + usize::from(!abstract_ns);
        if need > cap {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        for (dst, src) in sun.sun_path.iter_mut().skip(start).zip(path.iter()) {
            *dst = *src as libc::c_char;
        }
        let base = size_of::<libc::sa_family_t>();
        a.len = (base + start + path.len() + usize::from(!abstract_ns)) as libc::socklen_t;
        Ok(a)
    }

    /// Port of an inet address (None for other families).
    pub fn port(&self) -> Option<u16> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: family says sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                Some(u16::from_be(sin.sin_port))
            }
            libc::AF_INET6 => {
                // SAFETY: family says sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                Some(u16::from_be(sin6.sin6_port))
            }
            _ => None,
        }
    }

    /// The IPv4 address of an `AF_INET` address.
    pub(crate) fn ip_v4(&self) -> Option<[u8; 4]> {
        if self.family() != libc::AF_INET {
            return None;
        }
        // SAFETY: family says sockaddr_in.
        let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
        Some(sin.sin_addr.s_addr.to_ne_bytes())
    }

    /// The IPv6 address and scope id of an `AF_INET6` address.
    pub(crate) fn ip_v6(&self) -> Option<([u8; 16], u32)> {
        if self.family() != libc::AF_INET6 {
            return None;
        }
        // SAFETY: family says sockaddr_in6.
        let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
        Some((sin6.sin6_addr.s6_addr, sin6.sin6_scope_id))
    }

    /// The unix path bytes (for abstract: with the leading NUL), without trailing NULs.
    pub fn unix_path(&self) -> Option<&[u8]> {
        if self.family() != libc::AF_UNIX {
            return None;
        }
        // SAFETY: family says sockaddr_un.
        let sun = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_un) };
        let base = size_of::<libc::sa_family_t>();
        let n = (self.len as usize).saturating_sub(base).min(sun.sun_path.len());
        // SAFETY: c_char and u8 have the same layout.
        let bytes: &[u8] = unsafe { core::slice::from_raw_parts(sun.sun_path.as_ptr() as *const u8, n) };
        let mut end = bytes.len();
        if bytes.first() != Some(&0) {
            end = bytes.iter().position(|&b| b == 0).unwrap_or(end);
        }
        bytes.get(..end)
    }

    /// Same address (family, length and bytes; for inet: ip+port).
    pub fn same(&self, other: &SockAddr) -> bool {
        if self.len != other.len {
            return false;
        }
        // len never exceeds the storage (private, set by the constructors and
        // clamped after getsockname); min() keeps that true here regardless.
        let n = (self.len.min(STORAGE_LEN)) as usize;
        // SAFETY: both storages are at least n bytes.
        let (a, b) = unsafe {
            (
                core::slice::from_raw_parts(&self.storage as *const _ as *const u8, n),
                core::slice::from_raw_parts(&other.storage as *const _ as *const u8, n),
            )
        };
        match self.family() {
            // Compare only family, port, address (skip flowinfo/padding).
            libc::AF_INET => a.get(..8) == b.get(..8),
            libc::AF_INET6 => a.get(..4) == b.get(..4) && a.get(8..24) == b.get(8..24),
            _ => a == b,
        }
    }
}

/// `socket(domain, ty | SOCK_CLOEXEC, proto)`.
pub fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> SysResult<Fd> {
    // SAFETY: plain syscall.
    let r = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: fresh fd.
    Ok(unsafe { Fd::from_raw(r) })
}

/// `socketpair(AF_UNIX, ty | SOCK_CLOEXEC)`.
pub fn socketpair(ty: libc::c_int) -> SysResult<(Fd, Fd)> {
    let mut sv = [0 as RawFd; 2];
    // SAFETY: sv has room for two fds.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) })?;
    // SAFETY: fresh fds.
    Ok(unsafe { (Fd::from_raw(sv[0]), Fd::from_raw(sv[1])) })
}

/// `bind`.
pub fn bind(fd: RawFd, addr: &SockAddr) -> SysResult<()> {
    // SAFETY: addr storage valid for len bytes.
    cvt(unsafe { libc::bind(fd, &addr.storage as *const _ as *const libc::sockaddr, addr.len) }).map(|_| ())
}

/// `connect` (retries EINTR).
pub fn connect(fd: RawFd, addr: &SockAddr) -> SysResult<()> {
    // SAFETY: addr storage valid for len bytes.
    retry(|| cvt(unsafe { libc::connect(fd, &addr.storage as *const _ as *const libc::sockaddr, addr.len) })).map(|_| ())
}

/// `listen`.
pub fn listen(fd: RawFd, backlog: i32) -> SysResult<()> {
    // SAFETY: plain syscall.
    cvt(unsafe { libc::listen(fd, backlog) }).map(|_| ())
}

/// `accept4(..., SOCK_CLOEXEC | flags)`.
pub fn accept(fd: RawFd, flags: libc::c_int) -> SysResult<Fd> {
    // SAFETY: null address out-params are allowed.
    let r = retry(|| cvt(unsafe { libc::accept4(fd, core::ptr::null_mut(), core::ptr::null_mut(), libc::SOCK_CLOEXEC | flags) }))?;
    // SAFETY: fresh fd.
    Ok(unsafe { Fd::from_raw(r) })
}

/// Set an int socket option.
pub(crate) fn setsockopt_int(fd: RawFd, level: libc::c_int, opt: libc::c_int, val: libc::c_int) -> SysResult<()> {
    // SAFETY: pointer to a live int of the given size.
    cvt(unsafe {
        libc::setsockopt(fd, level, opt, &val as *const _ as *const libc::c_void, size_of::<libc::c_int>() as libc::socklen_t)
    })
    .map(|_| ())
}

/// Bound how long a blocking send on `fd` may wait (`SO_SNDTIMEO`); a send
/// that runs out of time fails with `EAGAIN`. `ms` must be positive (0 would
/// mean "no limit" to the kernel). Only for sockets this process created.
pub(crate) fn set_send_timeout(fd: RawFd, ms: u32) -> SysResult<()> {
    let ms = ms.max(1);
    let tv = libc::timeval { tv_sec: (ms / 1000) as libc::time_t, tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t };
    // SAFETY: pointer to a live timeval of the given size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            &tv as *const _ as *const libc::c_void,
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// Read an int socket option.
pub(crate) fn getsockopt_int(fd: RawFd, level: libc::c_int, opt: libc::c_int) -> SysResult<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: pointers to live locals.
    cvt(unsafe { libc::getsockopt(fd, level, opt, &mut v as *mut _ as *mut libc::c_void, &mut len) })?;
    Ok(v)
}

/// `getsockname`.
pub fn getsockname(fd: RawFd) -> SysResult<SockAddr> {
    let mut a = SockAddr::empty();
    // SAFETY: storage valid for len bytes.
    cvt(unsafe { libc::getsockname(fd, &mut a.storage as *mut _ as *mut libc::sockaddr, &mut a.len) })?;
    // The kernel reports the full length even when it truncated the address.
    a.len = a.len.min(STORAGE_LEN);
    Ok(a)
}

/// Peer credentials of a connected unix socket (`SO_PEERCRED`).
pub fn peer_cred(fd: RawFd) -> SysResult<libc::ucred> {
    // SAFETY: ucred is plain data.
    let mut c: libc::ucred = unsafe { zeroed() };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: pointers to live locals.
    cvt(unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, &mut c as *mut _ as *mut libc::c_void, &mut len) })?;
    Ok(c)
}

/// `send(..., MSG_NOSIGNAL | flags)`: a dead peer gives EPIPE, never SIGPIPE.
/// Async-signal-safe.
pub fn send(fd: RawFd, buf: &[u8], flags: libc::c_int) -> SysResult<usize> {
    // SAFETY: valid slice.
    retry(|| cvt_size(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags | libc::MSG_NOSIGNAL) }))
}

/// `recv` (retries EINTR).
pub fn recv(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> SysResult<usize> {
    // SAFETY: valid slice.
    retry(|| cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }))
}

/// Most fds one message may carry on Linux (`SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;

// Room for SCM_MAX_FD fds of control data (CMSG_SPACE(253 * 4) = 1032 on 64-bit).
const CMSG_BUF_WORDS: usize = 160;

/// `sendmsg` of `data` with `fds` as `SCM_RIGHTS` (at most [`SCM_MAX_FD`]), to `to`
/// if given (datagram sockets), with `MSG_NOSIGNAL`. Returns bytes sent.
pub fn send_with_fds(fd: RawFd, data: &[u8], fds: &[RawFd], to: Option<&SockAddr>) -> SysResult<usize> {
    send_with_fds_flags(fd, data, fds, to, 0)
}

/// [`send_with_fds`] with extra `flags` (`MSG_DONTWAIT`, say: a per-call
/// non-blocking send that leaves the socket's shared `O_NONBLOCK` alone).
/// `MSG_NOSIGNAL` is always added. On a stream socket a short send carries the
/// fds with its first byte; send the rest without them.
pub(crate) fn send_with_fds_flags(fd: RawFd, data: &[u8], fds: &[RawFd], to: Option<&SockAddr>, flags: libc::c_int) -> SysResult<usize> {
    if fds.len() > SCM_MAX_FD {
        return Err(Errno(libc::EINVAL));
    }
    let mut cbuf = [0u64; CMSG_BUF_WORDS];
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(a) = to {
        msg.msg_name = &a.storage as *const _ as *mut libc::c_void;
        msg.msg_namelen = a.len;
    }
    if !fds.is_empty() {
        let bytes = core::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_* macros on a buffer large enough for SCM_MAX_FD fds.
        unsafe {
            let space = libc::CMSG_SPACE(bytes) as usize;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(bytes) as usize;
            core::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c) as *mut RawFd, fds.len());
        }
    }
    // SAFETY: msg points at live buffers.
    retry(|| cvt_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL | flags) }))
}

/// What one [`recv_with_fds`] got.
#[derive(Debug, Default, Clone, Copy)]
pub struct Received {
    /// Data bytes.
    pub len: usize,
    /// Fds stored in the caller's array.
    pub nfds: usize,
    /// The kernel truncated data (`MSG_TRUNC`).
    pub data_truncated: bool,
    /// The kernel truncated control data (`MSG_CTRUNC`): some fds were lost.
    pub fds_truncated: bool,
}

/// `recvmsg` with `MSG_CMSG_CLOEXEC`; received fds are written to `fds_out`
/// (owned by the caller from then on; any that do not fit are closed and
/// reported as `fds_truncated`).
pub fn recv_with_fds(fd: RawFd, buf: &mut [u8], fds_out: &mut [RawFd], flags: libc::c_int) -> SysResult<Received> {
    let mut cbuf = [0u64; CMSG_BUF_WORDS];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = core::mem::size_of_val(&cbuf);
    // SAFETY: msg points at live buffers.
    let n = retry(|| cvt_size(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC | flags) }))?;
    let mut out = Received {
        len: n,
        nfds: 0,
        data_truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        fds_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
    };
    // SAFETY: walking the control buffer the kernel filled, with the CMSG macros.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for i in 0..count {
                    let f = core::ptr::read_unaligned(data.add(i));
                    match fds_out.get_mut(out.nfds) {
                        Some(slot) => {
                            *slot = f;
                            out.nfds += 1;
                        }
                        None => {
                            super::fd::close(f);
                            out.fds_truncated = true;
                        }
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(out)
}
