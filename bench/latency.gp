# Plots the alert latency distributions that bench.py writes.
# Called as: gnuplot -e "datadir='DIR'; output='FILE.png'" latency.gp
# Each DIR/NAME.dat has three columns: latency in µs, the share of opens
# reported within it, and the share slower than it.

set terminal pngcairo size 1200,520 font ",10"
set output output
set multiplot layout 1,2 title "Alert latency: open() to report, all rounds pooled"

set logscale x
set xlabel "latency (µs)"
set grid
set key bottom right

files = "floor-socket floor-pipe ttrapd-fanotify ttrapd-fanotify-newproc ttrapd-inotify inotifywait fatrace"
titles = "floor,datagram floor,pipe ttrapd,fanotify ttrapd,fanotify,new-process ttrapd,--no-fanotify inotifywait-m fatrace"

set ylabel "share of opens reported within"
set yrange [0:1]
plot for [i=1:words(files)] datadir."/".word(files, i).".dat" using 1:2 with lines lw 2 title word(titles, i)

set ylabel "share of opens slower than"
set logscale y
set yrange [1e-4:1]
set key top right
plot for [i=1:words(files)] datadir."/".word(files, i).".dat" using 1:3 with lines lw 2 title word(titles, i)

unset multiplot
