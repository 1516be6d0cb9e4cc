% gen_features.m: makes features.json, the reference for baselines/brisque.
%
% Runs the authors' BRISQUE release (utlive/BRISQUE MATLAB/ at 2e2a5ac0:
% brisquescore.m, brisque_feature.m, estimateggdparam.m, estimateaggdparam.m)
% in Octave 7.3 with octave-image 2.14 and Debian's libsvm-tools 3.24
% (svm-scale, svm-predict on PATH). The release is not in this repository:
% check it out elsewhere, put allmodel and allrange beside its .m files, and
% run from this folder
%
%   BRISQUE_SRC=/path/to/BRISQUE/MATLAB CALIBRA=../../../../shared/data/calibra \
%     octave --no-gui -q gen_features.m
%
% brisquescore.m writes test_ind, test_ind_scaled and output into the
% current folder, so the script runs it inside BRISQUE_SRC. Per image it
% records the release's 36 features (full precision), the svm-scale'd line
% the release feeds svm-predict, and the score.
pkg load image
here = pwd;
calibra = getenv('CALIBRA');
if calibra(1) ~= '/', calibra = fullfile(here, calibra); end
addpath(getenv('BRISQUE_SRC'));
cd(getenv('BRISQUE_SRC'));
names = {'I03','I04','I06','I08','I19','G0','G1','G2','G3','G4','G5'};
out = struct();
for i = 1:numel(names)
  im = imread(fullfile(calibra, [names{i} '.png']));
  feat = brisque_feature(double(rgb2gray(uint8(im))));
  q = brisquescore(im);
  scaled = zeros(1, 36);
  line = strsplit(strtrim(fileread('test_ind_scaled')), ' ');
  for t = 2:numel(line)
    kv = sscanf(line{t}, '%d:%f');
    scaled(kv(1)) = kv(2);
  end
  out.images.(names{i}) = struct('features', feat, 'scaled', scaled, 'score', q);
end
cd(here);
out.how = ['gen_features.m: utlive/BRISQUE 2e2a5ac0 in Octave ' version() ...
    ', libsvm-tools svm-scale -r allrange + svm-predict -b 1 allmodel; scaled: svm-scale output (features svm-scale left out are 0)'];
fid = fopen('features.json', 'w'); fputs(fid, jsonencode(out)); fclose(fid);
