#!/usr/bin/perl
# A worker written against Server::Starter only (its own server_ports()):
# answers each connection with one line and closes it. Under `gracefd run`
# it must find its sockets exactly as under start_server.
#   perl pid=PID gen=SERVER_STARTER_GENERATION key=KEY foo=$FOO
# Exits 0 on SIGTERM.
use strict;
use warnings;
use IO::Handle;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Server::Starter qw(server_ports);

$SIG{TERM} = sub { exit 0 };
my $ports = server_ports();
my (%key_of, @socks);
for my $key (sort keys %$ports) {
    my $fd = $ports->{$key};
    my $class = $key =~ m{^/} ? 'IO::Socket::UNIX' : 'IO::Socket::INET';
    my $s = $class->new or die "socket object: $!";
    $s->fdopen($fd, 'r') or die "fdopen $fd ($key): $!";
    $key_of{fileno $s} = $key;
    push @socks, $s;
}
die "no sockets in SERVER_STARTER_PORT\n" unless @socks;
my $sel = IO::Select->new(@socks);
my $gen = $ENV{SERVER_STARTER_GENERATION} // '?';
my $foo = $ENV{FOO} // '';
while (1) {
    for my $s ($sel->can_read) {
        my $c = $s->accept or next;
        print $c "perl pid=$$ gen=$gen key=$key_of{fileno $s} foo=$foo\n";
        close $c;
    }
}
