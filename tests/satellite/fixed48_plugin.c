/* A virtual ALSA device with one format only: 48 kHz, S16_LE, 2 channels, as many USB and
 * HAT sound cards offer. Capture gives a 440 Hz sine; playback appends what it is given to
 * the file named by `file`. Paced by the clock (a timerfd per period), like real hardware.
 * Built by tests/satellite/test_sound_fixed_rate.py; loaded by ALSA from an asoundrc:
 *   pcm_type.fixed48 { lib "/path/libasound_module_pcm_fixed48.so" }
 *   pcm.mic48 { type fixed48 }   pcm.spk48 { type fixed48; file "/path/played.raw" } */
#include <alsa/asoundlib.h>
#include <alsa/pcm_external.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define RATE 48000
#define CHANNELS 2

typedef struct {
	snd_pcm_ioplug_t io;
	int timer;
	FILE *out;
	double phase;
	struct timespec started;
} fixed_t;

static snd_pcm_uframes_t elapsed_frames(fixed_t *f)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double s = (double)(now.tv_sec - f->started.tv_sec) +
		   (double)(now.tv_nsec - f->started.tv_nsec) / 1e9;
	return (snd_pcm_uframes_t)(s * RATE);
}

static int fixed_start(snd_pcm_ioplug_t *io)
{
	fixed_t *f = io->private_data;
	struct itimerspec its;
	long ns = (long)(1e9 * (double)io->period_size / RATE);
	clock_gettime(CLOCK_MONOTONIC, &f->started);
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = ns / 1000000000;
	its.it_interval.tv_nsec = ns % 1000000000;
	its.it_value = its.it_interval;
	return timerfd_settime(f->timer, 0, &its, NULL);
}

static int fixed_stop(snd_pcm_ioplug_t *io)
{
	fixed_t *f = io->private_data;
	struct itimerspec its;
	memset(&its, 0, sizeof(its));
	return timerfd_settime(f->timer, 0, &its, NULL);
}

static snd_pcm_sframes_t fixed_pointer(snd_pcm_ioplug_t *io)
{
	fixed_t *f = io->private_data;
	if (io->state != SND_PCM_STATE_RUNNING)
		return 0;
	return (snd_pcm_sframes_t)(elapsed_frames(f) % io->buffer_size);
}

static snd_pcm_sframes_t fixed_transfer(snd_pcm_ioplug_t *io,
					const snd_pcm_channel_area_t *areas,
					snd_pcm_uframes_t offset, snd_pcm_uframes_t size)
{
	fixed_t *f = io->private_data;
	int16_t *frames = (int16_t *)((char *)areas[0].addr + (areas[0].first / 8)) +
			  offset * CHANNELS;
	snd_pcm_uframes_t i;
	if (io->stream == SND_PCM_STREAM_CAPTURE) {
		for (i = 0; i < size; i++) {
			int16_t v = (int16_t)(8000.0 * sin(f->phase));
			f->phase += 2.0 * M_PI * 440.0 / RATE;
			if (f->phase > 2.0 * M_PI)
				f->phase -= 2.0 * M_PI;
			frames[i * CHANNELS] = v;
			frames[i * CHANNELS + 1] = v;
		}
	} else if (f->out) {
		fwrite(frames, sizeof(int16_t) * CHANNELS, size, f->out);
		fflush(f->out);
	}
	return (snd_pcm_sframes_t)size;
}

static int fixed_poll_revents(snd_pcm_ioplug_t *io, struct pollfd *pfd,
			      unsigned int nfds, unsigned short *revents)
{
	fixed_t *f = io->private_data;
	uint64_t ticks;
	(void)nfds;
	if (pfd[0].revents & POLLIN) {
		if (read(f->timer, &ticks, sizeof(ticks)) < 0) { /* nothing pending */ }
		*revents = io->stream == SND_PCM_STREAM_CAPTURE ? POLLIN : POLLOUT;
	} else {
		*revents = 0;
	}
	return 0;
}

static int fixed_close(snd_pcm_ioplug_t *io)
{
	fixed_t *f = io->private_data;
	close(f->timer);
	if (f->out)
		fclose(f->out);
	free(f);
	return 0;
}

static const snd_pcm_ioplug_callback_t fixed_callbacks = {
	.start = fixed_start,
	.stop = fixed_stop,
	.pointer = fixed_pointer,
	.transfer = fixed_transfer,
	.poll_revents = fixed_poll_revents,
	.close = fixed_close,
};

SND_PCM_PLUGIN_DEFINE_FUNC(fixed48)
{
	snd_config_iterator_t i, next;
	const char *path = NULL;
	fixed_t *f;
	int err;
	static const unsigned int accesses[] = {
		SND_PCM_ACCESS_MMAP_INTERLEAVED, SND_PCM_ACCESS_RW_INTERLEAVED};
	static const unsigned int formats[] = {SND_PCM_FORMAT_S16_LE};

	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (!strcmp(id, "comment") || !strcmp(id, "type") || !strcmp(id, "hint"))
			continue;
		if (!strcmp(id, "file")) {
			if (snd_config_get_string(n, &path) < 0)
				return -EINVAL;
			continue;
		}
		SNDERR("Unknown field %s", id);
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (stream == SND_PCM_STREAM_PLAYBACK && path)
		f->out = fopen(path, "ab");
	f->io.version = SND_PCM_IOPLUG_VERSION;
	f->io.name = "fixed 48 kHz stereo test device";
	f->io.callback = &fixed_callbacks;
	f->io.private_data = f;
	f->io.mmap_rw = 1;
	f->io.poll_fd = f->timer;
	f->io.poll_events = POLLIN;
	err = snd_pcm_ioplug_create(&f->io, name, stream, mode);
	if (err < 0) {
		close(f->timer);
		free(f);
		return err;
	}
	snd_pcm_ioplug_set_param_list(&f->io, SND_PCM_IOPLUG_HW_ACCESS, 2, accesses);
	snd_pcm_ioplug_set_param_list(&f->io, SND_PCM_IOPLUG_HW_FORMAT, 1, formats);
	snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_CHANNELS, CHANNELS, CHANNELS);
	snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_RATE, RATE, RATE);
	snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_PERIOD_BYTES, 256, 65536);
	snd_pcm_ioplug_set_param_minmax(&f->io, SND_PCM_IOPLUG_HW_PERIODS, 2, 64);
	*pcmp = f->io.pcm;
	return 0;
}

SND_PCM_PLUGIN_SYMBOL(fixed48);
