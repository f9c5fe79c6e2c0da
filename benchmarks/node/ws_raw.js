'use strict';
// A minimal RFC 6455 client over `net`, for the load client: no npm package, so the benchmark
// measures the servers and not a client library. Handshake, masked client frames, unmasked
// server frames (fragmented or not), close, and answering pings.

const net = require('net');
const crypto = require('crypto');

const OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10;

class RawWebSocket {
  // onMessage(text, conn) for every complete text message; onClose(code, reason, conn).
  constructor(host, port, path, { onOpen, onMessage, onClose }) {
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.open = false;
    this.closed = false;
    this.buffer = null;
    this.fragments = null;
    const key = crypto.randomBytes(16).toString('base64');
    this.socket = net.connect({ host, port }, () => {
      this.socket.setNoDelay(true);
      this.socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.socket.on('data', (chunk) => this._data(chunk));
    this.socket.on('error', (err) => this._end(1006, String(err.code || err.message)));
    this.socket.on('close', () => this._end(1006, 'socket closed'));
  }

  send(text) {
    if (!this.open) return;
    const payload = Buffer.from(text, 'utf8');
    const n = payload.length;
    const headerLength = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headerLength + 4 + n);
    frame[0] = 0x80 | OP_TEXT;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) { frame[1] = 0x80 | 126; frame.writeUInt16BE(n, 2); }
    else { frame[1] = 0x80 | 127; frame.writeBigUInt64BE(BigInt(n), 2); }
    this._writeMasked(frame, headerLength, payload);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  _writeMasked(frame, at, payload) {
    const mask = crypto.randomBytes(4);
    mask.copy(frame, at);
    for (let i = 0; i < payload.length; i++) frame[at + 4 + i] = payload[i] ^ mask[i & 3];
    this.socket.write(frame);
  }

  _control(opcode, payload) {
    const frame = Buffer.allocUnsafe(2 + 4 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    this._writeMasked(frame, 2, payload);
  }

  _data(chunk) {
    this.buffer = this.buffer === null ? chunk : Buffer.concat([this.buffer, chunk]);
    if (!this.open) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buffer.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 101')) {
        this._end(1002, head.split('\r\n')[0]);
        return;
      }
      this.buffer = this.buffer.subarray(end + 4);
      this.open = true;
      this.onOpen(this);
    }
    this._frames();
  }

  _frames() {
    let buf = this.buffer;
    let at = 0;
    while (!this.closed && buf.length - at >= 2) {
      const b0 = buf[at], b1 = buf[at + 1];
      let n = b1 & 0x7f, head = 2;
      if (n === 126) {
        if (buf.length - at < 4) break;
        n = buf.readUInt16BE(at + 2); head = 4;
      } else if (n === 127) {
        if (buf.length - at < 10) break;
        n = Number(buf.readBigUInt64BE(at + 2)); head = 10;
      }
      if (buf.length - at < head + n) break;
      const payload = buf.subarray(at + head, at + head + n);
      at += head + n;
      this._frame(b0 & 0x80, b0 & 0x0f, payload);
    }
    this.buffer = at === buf.length ? null : buf.subarray(at);
  }

  _frame(fin, opcode, payload) {
    if (opcode === OP_PING) { this._control(OP_PONG, payload); return; }
    if (opcode === OP_PONG) return;
    if (opcode === OP_CLOSE) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this._end(code, payload.subarray(2).toString('utf8'));
      return;
    }
    if (opcode === OP_TEXT || opcode === OP_BINARY) this.fragments = fin ? null : [payload];
    else if (opcode === OP_CONT && this.fragments) this.fragments.push(payload);
    if (!fin) return;
    const whole = opcode === OP_CONT ? Buffer.concat(this.fragments || []) : payload;
    this.fragments = null;
    this.onMessage(whole.toString('utf8'), this);
  }

  _end(code, reason) {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.socket.destroy();
    this.onClose(code, reason, this);
  }
}

module.exports = { RawWebSocket };
