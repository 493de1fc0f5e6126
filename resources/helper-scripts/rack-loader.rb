# encoding: binary
# frozen_string_literal: true
#
# rack-loader.rb: runs one process of a Rack app for passenger-rs.
#
# Started by the core's spawner as `<ruby> rack-loader.rb` in the app root. It loads
# the app (Bundler, then config.ru or a Rails 2 config/environment.rb), listens on the
# unix socket PASSENGER_SOCKET and serves requests one at a time in the session
# protocol described in ARCHITECTURE.md ("Session protocol"): one request per
# connection, or several when the core offers keep-alive and the response can be
# framed (a kept-alive connection gives way to any new connection). If the
# app cannot be loaded it writes a JSON report to PASSENGER_REPORT_FILE and exits 1.
# EOF on stdin or SIGTERM makes it exit after the current request.
#
# With PASSENGER_PRELOADER=1 it is a preloader instead (smart spawning): it loads the
# app once, listens on PASSENGER_SOCKET for spawn commands and forks a worker per
# command (ARCHITECTURE.md, "Preloader protocol"). Workers fire
# :starting_worker_process with forked=true.
#
# With PASSENGER_DIRECT_PORT (a preloader's workers get it in their spawn command) a
# process also serves plain HTTP on 127.0.0.1:<port>, one request per connection, for
# operators (`passenger-status --verbose` prints the URL): a request without the
# connect password in X-Passenger-Connect-Password gets 403.
#
# Environment: PASSENGER_PRELOADER, PASSENGER_SOCKET, PASSENGER_CONNECT_PASSWORD, PASSENGER_REPORT_FILE,
# PASSENGER_DIRECT_PORT,
# PASSENGER_CLAIMS (where to make the claims pipe of pipelined requests, see `win_claim`),
# PASSENGER_APP_ROOT, PASSENGER_APP_ENV, PASSENGER_STARTUP_FILE (default config.ru).
#
# Only the Ruby standard library and rack are used. Loading this file defines the
# loader without running it (the `__FILE__ == $0` check at the end), so that a
# preloader can load the app once and fork processes that call `serve`.

require 'socket'
require 'json'
require 'stringio'
require 'tempfile'

# Passenger's public API, as far as apps use it: `defined?(PhusionPassenger)`,
# event hooks and the advertised concurrency.
module PhusionPassenger
  EVENTS = %i[starting_worker_process stopping_worker_process oob_work].freeze

  @event_handlers = Hash.new { |hash, key| hash[key] = [] }
  @advertised_concurrency_level = 1

  class << self
    # Concurrency this process tells the core about (informational here).
    attr_accessor :advertised_concurrency_level

    # Registers a block for `event`: :starting_worker_process (|forked|),
    # :stopping_worker_process, :oob_work.
    def on_event(event, &block)
      raise ArgumentError, 'on_event needs a block' unless block

      @event_handlers[event.to_sym] << block
      nil
    end

    # Runs the handlers of `event` in registration order.
    def call_event(event, *args)
      @event_handlers[event.to_sym].each { |handler| handler.call(*args) }
      nil
    end
  end
end

module PassengerRs
  # The Rack loader: app loading, the accept loop and the session protocol.
  module RackLoader
    # Bytes of request body kept in memory before a rewindable input spills to a file.
    MEMORY_BUFFER_LIMIT = 1024 * 1024
    # Largest header block accepted.
    MAX_HEADER_SIZE = 1024 * 1024
    # Bytes read from the socket at a time.
    READ_CHUNK = 16 * 1024
    # Largest unread request body drained to keep a connection alive; beyond this the
    # connection is closed instead.
    MAX_DRAIN = 1024 * 1024
    # The private response header that keeps a session connection open; its value is
    # the number of body bytes that follow the head.
    KEEP_ALIVE_HEADER = '!~Keep-Alive'
    # Most kept-alive connections held open at once.
    MAX_CONNS = 8
    # Bytes of one claim in the claims pipe: its number, little-endian.
    CLAIM_SIZE = 8
    # Most claims held for requests not read yet.
    MAX_HELD_CLAIMS = 1024
    # The empty string an input starts with (never modified in place: @pending and
    # @raw are only ever replaced), so that a request without a body allocates none.
    EMPTY = ''.b.freeze
    # The parts of the Rack environment that are the same for every request.
    STATIC_ENV = {
      'rack.errors' => $stderr,
      'rack.multithread' => false,
      'rack.multiprocess' => true,
      'rack.run_once' => false,
      'rack.hijack?' => true
    }.freeze

    # rack.hijack (full hijacking): `call` hands the app the socket, sets
    # rack.hijack_io and returns it; the loader then leaves the socket to the app.
    # An object rather than a lambda so that a request allocates one small object and
    # its method's variables stay on the stack.
    class Hijack
      def initialize(env, client)
        @env = env
        @client = client
        @hijacked = false
      end

      # Whether the app called it.
      attr_reader :hijacked

      def call
        @hijacked = true
        @env['rack.hijack_io'] = @client
        @client
      end
    end

    # The request body ended before its end (the client went away or sent a broken
    # body): rack.input raises this rather than return a shorter body that looks whole.
    class BodyCutOff < IOError; end

    # rack.input: the request body read straight from the socket, limited to
    # CONTENT_LENGTH, or, for a body the core de-chunked, framed by the core
    # (PASSENGER_BODY_FRAMED: pieces of a 4-byte big-endian length then that many
    # bytes, a zero length last). Not rewindable (Rack 3).
    class StreamInput
      # `early`: body bytes that arrived with the header block.
      def initialize(io, length, early = nil, framed = false)
        @io = io
        @remaining = length # nil: framed
        @pending = EMPTY
        @framed = framed
        @raw = EMPTY # framed: socket bytes not yet de-framed
        @piece_left = 0
        @ended = false
        return if early.nil? || early.empty?

        if framed
          @raw = early
          return
        end

        if @remaining && early.bytesize > @remaining
          # More than this request: the core sends the next request on a connection
          # only after the response, so the bytes beyond it cannot be trusted.
          @overrun = true
          early = early.byteslice(0, @remaining)
        end
        @remaining -= early.bytesize if @remaining
        @pending = early
      end

      # Rack: read([length[, outbuf]]).
      def read(length = nil, outbuf = nil)
        data =
          if length.nil?
            out = ''.b
            while (chunk = next_chunk(READ_CHUNK))
              out << chunk
            end
            out
          elsif length.zero?
            ''.b
          else
            out = ''.b
            while out.bytesize < length && (chunk = next_chunk(length - out.bytesize))
              out << chunk
            end
            out.empty? ? nil : out
          end
        return data if outbuf.nil?

        outbuf.replace(data || ''.b)
        data.nil? ? nil : outbuf
      end

      # Rack: gets, one line including "\n", nil at EOF.
      def gets
        line = ''.b
        while (chunk = next_chunk(READ_CHUNK))
          if (newline = chunk.index("\n"))
            line << chunk.byteslice(0, newline + 1)
            @pending = chunk.byteslice(newline + 1, chunk.bytesize)
            return line
          end
          line << chunk
        end
        line.empty? ? nil : line
      end

      # Rack: each yields lines.
      def each
        while (line = gets)
          yield line
        end
      end

      # Rack 3 allows close; the socket belongs to the loader, so this is a no-op.
      def close; end

      # Reads what is left so the response is not written over an unread body.
      def drain
        nil while next_chunk(READ_CHUNK)
      end

      # Reads and drops the unread rest of a body of known length, so the next
      # header block can follow; false (nothing read) when that is over `limit` bytes,
      # the length is unknown or more than this request arrived.
      def drain_for_reuse(limit)
        if @overrun
          $stderr.puts('More than one request arrived at once on a connection; closing it.')
          return false
        end
        return false if @framed || @remaining > limit

        @pending = EMPTY
        nil while read_socket(READ_CHUNK)
        true
      rescue BodyCutOff
        false
      end

      private

      # Up to `max` bytes: pushed-back bytes first, then the socket; nil at the end.
      def next_chunk(max)
        unless @pending.empty?
          data = @pending.byteslice(0, max)
          @pending = @pending.byteslice(data.bytesize, @pending.bytesize)
          return data
        end
        read_socket(max)
      end

      def read_socket(max)
        return read_framed(max) if @framed
        return nil if @remaining.zero?

        data = raw_read([max, @remaining].min)
        @remaining -= data.bytesize
        data
      end

      # Up to `max` bytes from the socket (framed: from what was read ahead first);
      # BodyCutOff at EOF.
      def raw_read(max)
        unless @raw.empty?
          data = @raw.byteslice(0, max)
          @raw = @raw.byteslice(data.bytesize, @raw.bytesize)
          return data
        end
        @io.readpartial(max)
      rescue EOFError, Errno::ECONNRESET
        raise BodyCutOff, 'the request body was cut off before its end'
      end

      def raw_exact(size)
        out = ''.b
        out << raw_read(size - out.bytesize) while out.bytesize < size
        out
      end

      def read_framed(max)
        while @piece_left.zero?
          return nil if @ended

          @piece_left = raw_exact(4).unpack1('N')
          @ended = @piece_left.zero?
        end
        data = raw_read([max, @piece_left].min)
        @piece_left -= data.bytesize
        data
      end
    end

    # rack.input for Rack 2, which requires `rewind`: everything read from the socket
    # is also kept, in memory up to MEMORY_BUFFER_LIMIT and in a temp file beyond. The
    # buffer is made with the first byte kept (nil until then: nothing to replay).
    class RewindableInput < StreamInput
      def initialize(io, length, early = nil, framed = false)
        super
        @buffer = nil
        return if @pending.empty?

        # Early bytes are replayed from the buffer like any bytes read before a rewind.
        @buffer = StringIO.new(''.b)
        @buffer.write(@pending)
        @buffer.rewind
        @pending = EMPTY
      end

      # Rack 2: rewind to the start of the body.
      def rewind
        @pending = EMPTY
        @buffer&.rewind
        0
      end

      # Rack 2: the input can be closed by the app; the buffer file goes too.
      def close
        @buffer.close! if @buffer.respond_to?(:close!)
      end

      private

      def next_chunk(max)
        return super unless @pending.empty?

        # Replay what was read before a rewind, then go on with the socket.
        return @buffer.read(max) unless @buffer.nil? || @buffer.eof?

        data = read_socket(max)
        return nil if data.nil?

        (@buffer ||= StringIO.new(''.b)).write(data)
        spill if @buffer.is_a?(StringIO) && @buffer.size > MEMORY_BUFFER_LIMIT
        data
      end

      def spill
        file = Tempfile.new('passenger-rs-input')
        file.binmode
        file.unlink
        file.write(@buffer.string)
        @buffer = file
      end
    end

    class << self
      attr_reader :app

      # Loads the app and serves it until told to stop (or, with PASSENGER_PRELOADER=1,
      # runs the preloader: see `preload`). Never returns.
      def main
        $stdout.sync = true
        $stderr.sync = true
        @app_root = ENV['PASSENGER_APP_ROOT'] || Dir.pwd
        @app_env = ENV['PASSENGER_APP_ENV'] || ENV['RACK_ENV'] || 'production'
        preloader = ENV['PASSENGER_PRELOADER'] == '1'
        $0 = preloader ? "Passenger AppPreloader: #{@app_root}" : worker_title
        Dir.chdir(@app_root)
        begin
          @app = load_app
        rescue Exception => e # rubocop:disable Lint/RescueException: SyntaxError, LoadError, SystemExit...
          raise if e.is_a?(SystemExit) && e.success?

          report_failure('app_load', e)
          exit!(1)
        end
        if preloader
          preload(@app, ENV.fetch('PASSENGER_SOCKET'), ENV['PASSENGER_CONNECT_PASSWORD'])
        else
          PhusionPassenger.call_event(:starting_worker_process, false)
          serve(@app, ENV.fetch('PASSENGER_SOCKET'), ENV['PASSENGER_CONNECT_PASSWORD'],
                ENV['PASSENGER_DIRECT_PORT'])
        end
      end

      # PASSENGER_SOCKET_MODE (octal): set when the core runs as another user than this
      # app (it dropped root), which must still connect to the socket and open the
      # claims pipe; the connect password and the unlistable directory guard them.
      def open_to_core(path)
        mode = ENV['PASSENGER_SOCKET_MODE']
        File.chmod(mode.to_i(8), path) if mode && !mode.empty?
      end

      # The loader's (or preloader's) listening socket, opened to the core. A claims
      # pipe already made for it is removed again if the socket cannot be made.
      def listen_on(socket_path)
        File.unlink(socket_path) if File.socket?(socket_path)
        server = UNIXServer.new(socket_path)
        open_to_core(socket_path)
        server
      rescue StandardError
        remove_claims if @claims_path
        raise
      end

      # The preloader (ARCHITECTURE.md, "Preloader protocol"): listens on `socket_path`
      # for spawn commands and forks a worker for each, until stdin closes or SIGTERM.
      # Workers outlive the preloader.
      def preload(app, socket_path, password)
        server = listen_on(socket_path)
        wake_r, wake_w = IO.pipe
        stopping = false
        trap('TERM') do
          stopping = true
          begin
            wake_w.write_nonblock('.')
          rescue IO::WaitWritable, IOError
            nil
          end
        end
        watched = [server, wake_r]
        watched << $stdin if stdin_watchable?
        until stopping
          ready, = IO.select(watched)
          ready.each do |io|
            if io.equal?(server)
              client = begin
                server.accept_nonblock
              rescue IO::WaitReadable, Errno::EINTR, Errno::ECONNABORTED
                next
              end
              begin
                spawn_command(app, server, client, password)
              rescue StandardError => e
                log_exception('Error while handling a preloader command', e)
              ensure
                client.close unless client.closed?
              end
            elsif io.equal?($stdin)
              stopping = true if stdin_closed?
            else
              stopping = true
            end
          end
        end
        begin
          server.close
        rescue IOError
          nil
        end
        File.unlink(socket_path) if File.socket?(socket_path)
        exit!(0)
      end

      private

      def worker_title
        "Passenger RubyApp: #{@app_root} (#{@app_env})"
      end

      # One command connection: a first message carrying the worker's stdin and output
      # fds (SCM_RIGHTS), then one JSON line. An empty connection is a readiness probe.
      def spawn_command(app, server, client, password)
        data, _addr, _flags, *controls = client.recvmsg(65_536, 0, nil, scm_rights: true)
        fds = controls.flat_map { |c| c.respond_to?(:unix_rights) ? (c.unix_rights || []) : [] }
        begin
          return if data.nil? || data.empty?

          while !data.include?("\n") && data.bytesize < 65_536
            more = client.readpartial(65_536)
            data << more
          end
          command = JSON.parse(data.lines.first)
          return reply(client, 'result' => 'error', 'message' => 'bad preloader password') \
            if password && !password.empty? && command['auth'] != password
          return reply(client, 'result' => 'error', 'message' => "unknown command #{command['command'].inspect}") \
            unless command['command'] == 'spawn'
          return reply(client, 'result' => 'error', 'message' => 'expected 2 file descriptors') \
            unless fds.size == 2

          pid = fork { become_worker(app, server, client, fds, command) }
          Process.detach(pid)
        rescue EOFError, Errno::ECONNRESET
          nil
        rescue StandardError => e
          reply(client, 'result' => 'error', 'message' => "#{e.class}: #{e.message}")
        ensure
          fds.each { |io| io.close unless io.closed? }
        end
      end

      # In the forked child: detach from the preloader, announce the pid, run the
      # worker hooks, listen and say so, then serve. Never returns.
      def become_worker(app, server, client, fds, command)
        server.close
        Process.setpgid(0, 0)
        stdin_io, out_io = fds
        $stdin.reopen(stdin_io)
        $stdout.reopen(out_io)
        $stderr.reopen(out_io)
        $stdout.sync = true
        $stderr.sync = true
        fds.each(&:close)
        trap('CHLD', 'DEFAULT')
        trap('TERM', 'DEFAULT')
        reply(client, 'pid' => Process.pid)
        srand
        $0 = worker_title
        PhusionPassenger.call_event(:starting_worker_process, true)
        serve(app, command.fetch('socket'), command['password'], command['direct_port']) do
          reply(client, 'result' => 'ok', 'pid' => Process.pid)
          client.close
        end
      rescue Exception => e # rubocop:disable Lint/RescueException: report, never return
        log_exception('Could not start the worker process', e)
        begin
          reply(client, 'result' => 'error', 'message' => "#{e.class}: #{e.message}")
        rescue StandardError
          nil
        end
        exit!(1)
      end

      def reply(client, hash)
        client.write(JSON.generate(scrub(hash)) + "\n")
        nil
      end

      public

      # Sets up Bundler and load paths, then loads the rackup file (or a Rails 2 app)
      # and returns the Rack app.
      def load_app
        setup_bundler
        startup = ENV['PASSENGER_STARTUP_FILE']
        startup = nil if startup&.empty?
        rackup = File.expand_path(startup || 'config.ru', @app_root)
        if startup.nil? && !File.exist?(rackup) && File.exist?('config/environment.rb')
          return load_rails2_app
        end

        require 'rack'
        result = Rack::Builder.parse_file(rackup)
        # Rack 2 returns [app, options]; Rack 3 returns the app.
        result.is_a?(Array) ? result.first : result
      end

      # Listens on `socket_path` (and on 127.0.0.1:`direct_port` for direct access)
      # and serves requests until stdin closes or SIGTERM. The block, if given, runs
      # once the socket listens.
      def serve(app, socket_path, password, direct_port = nil)
        @app = app
        @password = password
        @rack3 = defined?(Rack.release) && Rack.release.to_i >= 3
        direct = open_direct(direct_port)
        # Request pipelining (ARCHITECTURE.md): while this process is busy, the core
        # may send more requests on other connections. It writes the claim of each
        # into this pipe first; a request runs only if this process reads its claim
        # from the pipe, since the core takes requests back by reading them first.
        # The pipe exists before the socket: the core opens it as soon as the socket
        # accepts.
        claims_base = ENV['PASSENGER_CLAIMS']
        if claims_base && !claims_base.empty?
          @claims_path = File.join(claims_base, "#{File.basename(socket_path)}.c")
          remove_claims
          File.mkfifo(@claims_path, 0o600)
          open_to_core(@claims_path)
          @claims = File.open(@claims_path, File::RDWR | File::NONBLOCK)
          @claim_record = String.new(capacity: CLAIM_SIZE)
          # Claims read from the pipe whose requests have not been read yet.
          @held_claims = {}
        end
        server = listen_on(socket_path)
        yield if block_given?
        @stopping = false
        wake_r, wake_w = IO.pipe
        # Without an idle connection the loop blocks in accept(2); stopping (SIGTERM
        # or stdin EOF) closes the server socket from outside the loop, which ends it.
        # With an idle kept-alive connection it waits in select(2), which the wake
        # pipe interrupts.
        stop = lambda do
          @stopping = true
          begin
            wake_w.write_nonblock('.')
          rescue IO::WaitWritable, IOError
            nil
          end
          begin
            server.close
          rescue IOError
            nil
          end
        end
        trap('TERM') { Thread.new { stop.call } }
        listeners = [server, wake_r]
        listeners << direct if direct
        if stdin_watchable?
          Thread.new do
            begin
              loop { $stdin.readpartial(4096) }
            rescue EOFError, IOError, Errno::ECONNRESET
              nil
            end
            stop.call
          end
        end
        # Kept-alive connections, served in the order their requests arrive. The
        # core may send a request on any of them, or open a new one, while this
        # process is busy (request pipelining), so all of them are watched.
        conns = []
        until @stopping
          ready = begin
            IO.select(conns.empty? ? listeners : conns + listeners)&.first || []
          rescue IOError, Errno::EBADF
            break
          end
          break if ready.include?(wake_r) || @stopping

          ready.each do |io|
            if io.equal?(direct)
              serve_direct(direct)
              next
            elsif io.equal?(server)
              client = begin
                io.accept_nonblock
              rescue IO::WaitReadable, Errno::EINTR, Errno::ECONNABORTED
                next
              rescue IOError, Errno::EBADF, Errno::EINVAL
                @stopping = true
                break
              end
            else
              client = io
              conns.delete(io)
            end
            kept = serve_client(client)
            conns << kept if kept
            break if @stopping
          end
          # A core that went away leaves connections that only ever hit EOF; they
          # are closed by serve_client. Beyond MAX_CONNS the oldest is closed.
          conns.shift.close while conns.size > MAX_CONNS
        end
        conns.each { |c| c.close unless c.closed? }
        direct&.close
        shut_down(server, socket_path)
      end

      private

      def setup_bundler
        if File.exist?('config/setup_load_paths.rb')
          require File.expand_path('config/setup_load_paths.rb', @app_root)
        elsif File.exist?('.bundle/environment.rb')
          require File.expand_path('.bundle/environment.rb', @app_root)
        elsif File.exist?(ENV['BUNDLE_GEMFILE'] || 'Gemfile')
          require 'bundler'
          Bundler.setup
        end
      end

      def load_rails2_app
        require File.expand_path('config/environment.rb', @app_root)
        unless defined?(ActionController::Dispatcher)
          raise LoadError, 'config/environment.rb did not define ActionController::Dispatcher ' \
                           'and there is no config.ru'
        end

        require 'rack'
        ActionController::Dispatcher.new
      end

      def report_failure(step, error)
        summary = "#{error.class}: #{error.message}"
        backtrace = (error.backtrace || []).join("\n")
        $stderr.puts("Error loading the application: #{summary}")
        $stderr.puts(backtrace) unless backtrace.empty?
        path = ENV['PASSENGER_REPORT_FILE']
        return if path.nil? || path.empty?

        report = { 'step' => step, 'summary' => summary, 'backtrace' => backtrace }
        File.write(path, JSON.generate(scrub(report)))
      rescue StandardError => e
        $stderr.puts("Could not write the spawn report: #{e.class}: #{e.message}")
      end

      def scrub(hash)
        hash.transform_values { |v| v.is_a?(String) ? v.dup.force_encoding('UTF-8').scrub('?') : v }
      end

      def stdin_watchable?
        $stdin.stat.pipe? || $stdin.stat.socket?
      rescue StandardError
        false
      end

      def stdin_closed?
        $stdin.read_nonblock(4096)
        false
      rescue IO::WaitReadable
        false
      rescue EOFError, IOError, Errno::ECONNRESET
        true
      end

      def shut_down(server, socket_path)
        begin
          PhusionPassenger.call_event(:stopping_worker_process)
        rescue Exception => e # rubocop:disable Lint/RescueException: still exit cleanly
          log_exception('A :stopping_worker_process handler raised', e)
        end
        begin
          server.close
        rescue IOError
          nil
        end
        File.unlink(socket_path) if File.socket?(socket_path)
        remove_claims if @claims_path
        exit!(0)
      end

      # Removes the claims pipe.
      def remove_claims
        File.unlink(@claims_path) if File.exist?(@claims_path)
      rescue SystemCallError => e
        $stderr.puts("Could not remove the claims pipe #{@claims_path}: #{e.message}")
      end

      # Whether this process wins the claim of a pipelined request: it reads claims
      # from the pipe, oldest first, until it finds this one. Claims read on the way
      # belong to requests still in other connections; they are held, and those
      # requests run when their turn comes. Not found: the core took the request back.
      def win_claim(claim)
        return false unless @claims

        # Digits (what the core sends) convert with to_i alike; Integer() is slower.
        number = claim.match?(/\A\d+\z/) ? claim.to_i : Integer(claim, 10, exception: false)
        return false unless number
        return true if @held_claims.delete(number)

        while true # rubocop:disable Style/InfiniteLoop: loop's block costs per request
          record = @claims.read_nonblock(CLAIM_SIZE, @claim_record, exception: false)
          return false unless record.is_a?(String) && record.bytesize == CLAIM_SIZE

          read = record.unpack1('Q<')
          return true if read == number

          @held_claims[read] = true
          # A claim whose request never came (the core failed to send it) is
          # forgotten eventually.
          @held_claims.shift while @held_claims.size > MAX_HELD_CLAIMS
        end
      end

      # Serves one request on `client`; returns `client` if it stays open for the
      # next request (keep-alive), nil if it was closed or hijacked.
      def serve_client(client)
        outcome = :close
        begin
          outcome = handle(client)
        rescue Exception => e # rubocop:disable Lint/RescueException: keep serving
          raise if e.is_a?(SystemExit)

          log_exception('Error while handling a request', e)
        ensure
          client.close if outcome == :close && !client.closed?
        end
        outcome == :keep ? client : nil
      end

      # Reads one header block and serves it: :keep (the connection stays open),
      # :hijacked (the app took the socket) or :close.
      def handle(client)
        headers = read_header_block(client)
        return :close if headers.nil?

        given = headers.delete('PASSENGER_CONNECT_PASSWORD')
        if @password && !@password.empty? && given != @password
          $stderr.puts('someone tried to connect with an invalid connect password.')
          return :close
        end

        case headers['REQUEST_METHOD']
        when 'OOBW'
          PhusionPassenger.call_event(:oob_work)
          client.write("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\noobw done")
          return :close
        when 'PING'
          client.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
          return :close
        end
        claim = headers.delete('PASSENGER_CLAIM')
        # A pipelined request the core took back: it runs elsewhere.
        return :close if claim && !win_claim(claim)

        serve_request(client, headers)
      end

      # The direct-access socket on 127.0.0.1:`port`, or nil without a port. A port
      # someone else took fails the spawn: the core would show that URL to operators,
      # who would send the password there.
      def open_direct(port)
        return nil if port.nil? || port.to_s.empty?

        TCPServer.new('127.0.0.1', Integer(port.to_s, 10))
      rescue SystemCallError => e
        raise "cannot listen on 127.0.0.1:#{port} for direct access: #{e.message}"
      end

      # Serves one plain HTTP request from the direct-access socket, then closes.
      def serve_direct(listener)
        client = begin
          listener.accept_nonblock
        rescue IO::WaitReadable, Errno::EINTR, Errno::ECONNABORTED
          return
        end
        outcome = :close
        begin
          headers = read_http_request(client)
          outcome = serve_request(client, headers) if headers
        rescue Exception => e # rubocop:disable Lint/RescueException: keep serving
          raise if e.is_a?(SystemExit)

          log_exception('Error while handling a direct request', e)
        ensure
          client.close unless outcome == :hijacked || client.closed?
        end
      end

      # Reads a plain HTTP/1.x request head and returns the variables a header block
      # would carry; answers it itself and returns nil when the connect password is
      # missing or wrong or the request is not understood. Body bytes that came with
      # the head are kept in @early for rack.input.
      def read_http_request(client)
        @early = nil
        data = ''.b
        until (head_end = data.index("\r\n\r\n"))
          return nil if data.bytesize > MAX_HEADER_SIZE || !read_more(client, data)
        end
        @early = data.byteslice(head_end + 4, data.bytesize) if data.bytesize > head_end + 4
        lines = data.byteslice(0, head_end).split("\r\n")
        method, target, version = lines.shift.to_s.split(' ', 3)
        return refuse_direct(client, 400, "Bad Request\n") unless version&.start_with?('HTTP/') &&
                                                                 target.start_with?('/')

        env = {}
        given = nil
        lines.each do |line|
          name, value = line.split(':', 2)
          next if value.nil?

          key = name.strip.upcase.tr('-', '_')
          value = value.strip
          case key
          when 'X_PASSENGER_CONNECT_PASSWORD' then given = value
          when 'CONTENT_TYPE', 'CONTENT_LENGTH' then env[key] = value
          when 'CONNECTION', 'KEEP_ALIVE' then nil
          else
            env["HTTP_#{key}"] = env.key?("HTTP_#{key}") ? "#{env["HTTP_#{key}"]}, #{value}" : value
          end
        end
        if @password.nil? || @password.empty? || !same_secret?(given, @password)
          $stderr.puts('someone tried to connect with an invalid connect password.')
          return refuse_direct(client, 403, "X-Passenger-Connect-Password is missing or wrong\n")
        end
        return refuse_direct(client, 411, "Send a Content-Length\n") if env.key?('HTTP_TRANSFER_ENCODING')

        path, query = target.split('?', 2)
        env.merge!('REQUEST_METHOD' => method, 'REQUEST_URI' => target, 'PATH_INFO' => path,
                   'QUERY_STRING' => query || '', 'SCRIPT_NAME' => '', 'SERVER_NAME' => '127.0.0.1',
                   'SERVER_PORT' => client.local_address.ip_port.to_s, 'SERVER_PROTOCOL' => version,
                   'REMOTE_ADDR' => client.remote_address.ip_address,
                   'REMOTE_PORT' => client.remote_address.ip_port.to_s)
      end

      # Compares in time independent of where the strings differ.
      def same_secret?(given, expected)
        return false unless given && given.bytesize == expected.bytesize

        given.bytes.zip(expected.bytes).reduce(0) { |acc, (a, b)| acc | (a ^ b) }.zero?
      end

      def refuse_direct(client, status, body)
        client.write("HTTP/1.1 #{status} #{reason(status)}\r\nContent-Type: text/plain\r\n" \
                     "Content-Length: #{body.bytesize}\r\nConnection: close\r\n\r\n#{body}")
        nil
      end

      # Reads one header block, usually in a single read(2); body bytes that came
      # with it are kept in @early for rack.input.
      def read_header_block(client)
        @early = nil
        data = begin
          client.readpartial(READ_CHUNK)
        rescue EOFError, Errno::ECONNRESET
          return nil
        end

        while data.bytesize < 4
          return nil unless read_more(client, data)
        end
        size = data.unpack1('N')
        raise "header block of #{size} bytes is too large" if size > MAX_HEADER_SIZE

        while data.bytesize < size + 4
          raise 'connection closed in the middle of the header block' unless read_more(client, data)
        end
        @early = data.byteslice(size + 4, data.bytesize) if data.bytesize > size + 4
        block = data.byteslice(4, size)
        # What split("\0", -1) gives, in one C call: every NUL-terminated field, then
        # the rest after the last NUL ('' when the block ends with one).
        fields = block.unpack(field_format(block.count("\0") + 1))
        fields.pop if fields.size.odd? && fields.last == ''
        fields << '' if fields.size.odd?
        Hash[*fields]
      end

      # The unpack format of `count` NUL-separated fields (cached for usual counts).
      def field_format(count)
        return 'Z*' * count if count > 512

        (@field_formats ||= [])[count] ||= ('Z*' * count).freeze
      end

      # Appends one read's worth to `data`; nil at EOF.
      def read_more(client, data)
        data << client.readpartial(READ_CHUNK)
      rescue EOFError, Errno::ECONNRESET
        nil
      end

      def build_env(client, headers)
        env = headers
        @keep_alive = env.delete('PASSENGER_KEEP_ALIVE') == '1'
        given_length = env['CONTENT_LENGTH']
        framed = env.delete('PASSENGER_BODY_FRAMED') == '1'
        length =
          if framed
            nil # de-chunked by the core, framed
          elsif given_length && !given_length.empty?
            Integer(given_length, 10)
          else
            0
          end
        env.delete('CONTENT_LENGTH') if given_length == ''
        input = (@rack3 ? StreamInput : RewindableInput).new(client, length, @early, framed)
        @input = input
        env.merge!(STATIC_ENV)
        env['rack.input'] = input
        env['rack.version'] = defined?(Rack::VERSION) ? Rack::VERSION : [1, 3]
        env['rack.url_scheme'] = env['HTTPS'] == 'on' ? 'https' : 'http'
        env['rack.response_finished'] = []
        env['SCRIPT_NAME'] ||= ''
        env['PATH_INFO'] ||= ''
        env['QUERY_STRING'] ||= ''
        env['SERVER_SOFTWARE'] ||= 'passenger-rs'
        env['SERVER_PROTOCOL'] ||= 'HTTP/1.1'
        env
      end

      # Calls the app and writes its response: :keep if the connection can serve
      # another request, :hijacked if the app took the socket, else :close.
      def serve_request(client, headers)
        env = build_env(client, headers)
        input = @input
        hijack = Hijack.new(env, client)
        env['rack.hijack'] = hijack
        head_written = false
        outcome = :close
        body = nil
        error = nil
        begin
          status, response_headers, body = @app.call(env)
          return :hijacked if hijack.hijacked

          response_hijack = nil
          content_length = nil
          status = status.to_i
          # Binary, so header values and body chunks of any encoding can be joined.
          head = +status_line(status)
          response_headers&.each do |name, value|
            name = bin(name.to_s)
            # Names are ASCII or binary here, so casecmp is the ASCII-only comparison
            # casecmp? would make, without folding copies of both strings; the length
            # goes first so that most names are told apart without comparing.
            case name.bytesize
            when 11
              if name.casecmp('rack.hijack') == 0
                response_hijack = value
                next
              end
            when 6
              next if name.casecmp('status') == 0
            when 14
              content_length = value.to_s if name.casecmp('content-length') == 0
            end
            next if name.start_with?('!~')

            if value.is_a?(Array)
              value.each { |v| head << name << ': ' << bin(v.to_s) << "\r\n" }
            else
              value = bin(value.to_s)
              if value.include?("\n")
                value.split("\n").each { |v| head << name << ': ' << v << "\r\n" }
              else
                head << name << ': ' << value << "\r\n"
              end
            end
          end
          if response_hijack
            head << "\r\n"
            client.write(head)
            head_written = true
            response_hijack.call(client)
            return :hijacked
          end
          keep = @keep_alive && status >= 200 && input.drain_for_reuse(MAX_DRAIN)
          if body.is_a?(Array)
            # The common case: the whole response in one write(2), framed for
            # keep-alive by its length.
            chunks = body.map { |chunk| bin(chunk.to_s) }
            if keep
              head << KEEP_ALIVE_HEADER << ': ' << chunks.sum(&:bytesize).to_s << "\r\n"
              outcome = :keep
            end
            head << "\r\n"
            chunks.each { |chunk| head << chunk }
            client.write(head)
            head_written = true
          else
            # A streamed body is framed by the app's Content-Length, if it has one
            # that can apply: not for HEAD and bodiless statuses.
            length = keep && body.respond_to?(:each) &&
                     framing_length(content_length, status, env['REQUEST_METHOD'])
            head << KEEP_ALIVE_HEADER << ': ' << length.to_s << "\r\n" if length
            head << "\r\n"
            client.write(head)
            head_written = true
            written = write_body(client, body, length)
            # Fewer bytes than announced: closing tells the core the body is short.
            outcome = :keep if length && written == length
          end
        rescue Errno::EPIPE, Errno::ECONNRESET
          outcome = :close # The core went away; nothing to answer.
        rescue Exception => e # rubocop:disable Lint/RescueException: answer 500
          raise if e.is_a?(SystemExit)

          error = e
          outcome = :close
          log_exception('Error in the Rack application', e)
          write_500(client) unless head_written || hijack.hijacked
        ensure
          close_body(body)
          run_response_finished(env, status, response_headers, error)
        end
        hijack.hijacked ? :hijacked : outcome
      end

      # The body length a streamed response can be framed with for keep-alive, or nil.
      def framing_length(content_length, status, method)
        return nil if content_length.nil? || method == 'HEAD'
        return nil if status == 204 || status == 304 || status < 200
        return nil unless content_length.match?(/\A\d{1,18}\z/)

        Integer(content_length, 10)
      end

      def bin(str)
        str.ascii_only? || str.encoding == Encoding::BINARY ? str : str.b
      end

      # Writes a streamed body; with `limit`, at most that many bytes. Returns the
      # number of bytes written (nil for a Rack 3 streaming body, which writes itself).
      def write_body(client, body, limit = nil)
        if !body.respond_to?(:each) && body.respond_to?(:call)
          body.call(client) # Rack 3 streaming body: it writes and closes the stream.
          return nil
        end
        written = 0
        body.each do |chunk|
          chunk = chunk.to_s
          next if chunk.empty?

          if limit && written + chunk.bytesize > limit
            chunk = bin(chunk).byteslice(0, limit - written)
            client.write(chunk)
            written += chunk.bytesize
            raise Errno::EPIPE, 'the body is longer than its Content-Length'
          end
          client.write(chunk)
          written += chunk.bytesize
        end
        written
      end

      def close_body(body)
        body.close if body.respond_to?(:close)
      rescue Exception => e # rubocop:disable Lint/RescueException: keep serving
        log_exception('Error closing the response body', e)
      end

      def run_response_finished(env, status, headers, error)
        callbacks = env['rack.response_finished']
        return unless callbacks.is_a?(Array) && !callbacks.empty?

        callbacks.reverse_each do |callback|
          callback.call(env, status, headers, error)
        rescue Exception => e # rubocop:disable Lint/RescueException: keep serving
          log_exception('Error in a rack.response_finished callback', e)
        end
      end

      def write_500(client)
        body = "Internal Server Error\n"
        client.write("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n" \
                     "Content-Length: #{body.bytesize}\r\n\r\n#{body}")
      rescue StandardError
        nil
      end

      def reason(status)
        @reasons ||= defined?(Rack::Utils::HTTP_STATUS_CODES) ? Rack::Utils::HTTP_STATUS_CODES : {}
        @reasons[status] || 'Unknown'
      end

      # "HTTP/1.1 <status> <reason>\r\n", binary and frozen; kept with its reason for
      # the statuses an app can mean (100-999), and built again if the reason changed.
      def status_line(status)
        reason = reason(status)
        cached = (@status_lines ||= {})[status]
        return cached[1] if cached && cached[0].equal?(reason)

        line = "HTTP/1.1 #{status} #{reason}\r\n".b.freeze
        @status_lines[status] = [reason, line].freeze if status >= 100 && status <= 999
        line
      end

      def log_exception(what, error)
        $stderr.puts("#{what}: #{error.class}: #{error.message}")
        $stderr.puts((error.backtrace || []).map { |line| "  #{line}" }.join("\n"))
      end
    end
  end
end

PassengerRs::RackLoader.main if __FILE__ == $0
